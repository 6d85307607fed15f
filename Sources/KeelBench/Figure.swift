/// A measured figure over repetitions: one sample per repetition, reported as median (min–max).
public struct Figure: Sendable {
    /// One value per repetition.
    public var samples: [Double]

    /// - Parameter samples: one value per repetition (NaN where nothing was measured).
    public init(samples: [Double]) { self.samples = samples }

    /// The median of the samples; NaN when there are none.
    public var median: Double {
        let s = samples.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    /// The smallest sample; NaN when there are none.
    public var min: Double { samples.min() ?? .nan }
    /// The largest sample; NaN when there are none.
    public var max: Double { samples.max() ?? .nan }
}

/// The nearest-rank percentile `p` (0…1) of `values`; NaN when `values` is empty.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s[Swift.max(0, Swift.min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1))]
}

/// One column of the bench table: one worker language at one durability (or one node set).
public struct BenchColumn: Sendable {
    /// The column's heading, e.g. `python/full`; `--compare` matches columns by it.
    public var title: String
    /// The rows in the order they were measured: name and figure.
    public var figures: [(String, Figure)] = []
    /// The counts behind the floor rows, by workload (`W2`, `W3`); empty when no floors were measured.
    public var floorCounts: [(String, FloorCount)] = []

    /// - Parameter title: the column's heading.
    public init(title: String) { self.title = title }

    /// Appends row `name` with one sample per repetition.
    public mutating func add(_ name: String, _ samples: [Double]) { figures.append((name, Figure(samples: samples))) }

    /// The figure of row `name`, if measured.
    public func figure(_ name: String) -> Figure? { figures.first { $0.0 == name }?.1 }
}
