/// The sequential store commits and worker round trips a piece of work needs at the least, so a
/// latency can be read as a multiple of what it cannot go below (`keel bench`, docs/performance.md
/// "Floors").
public struct FloorCount: Sendable, Equatable {
    /// Store commits one after another on the path.
    public var commits: Int
    /// JSON-RPC round trips to the worker one after another on the path.
    public var roundTrips: Int

    /// - Parameters:
    ///   - commits: sequential store commits.
    ///   - roundTrips: sequential worker round trips.
    public init(commits: Int, roundTrips: Int) {
        self.commits = commits
        self.roundTrips = roundTrips
    }

    /// W2: one workflow of one activity, start to result, on SQLite with a worker that has room
    /// (Sources/KeelEngine):
    /// 1. `workflow/start` commits the execution already running at epoch 1 (commit 1), then sends
    ///    `workflow/run` (round trip 1, answered last);
    /// 2. the worker's `workflow/step` (round trip 2, held until the activity's result) commits the
    ///    journal entry with its task already claimed (commit 2, `Engine+Steps.activityStep`);
    /// 3. `activity/execute` (round trip 3); its answer commits the task's end and the journal
    ///    entry's result in one transaction (commit 3, `Engine+Dispatch.finish`), which answers the step;
    /// 4. the worker answers `workflow/run` completed, which commits the execution's end (commit 4)
    ///    and answers the client's `workflow/result`.
    ///
    /// The client's own `workflow/start` and `workflow/result` exchanges with Keel are not counted:
    /// the floor stays a floor.
    public static let oneActivityWorkflow = FloorCount(commits: 4, roundTrips: 3)

    /// W3: one more activity inside a running workflow: `workflow/step` (round trip) commits the
    /// entry with its claimed task, `activity/execute` (round trip), its answer commits the result.
    public static let sequentialActivity = FloorCount(commits: 2, roundTrips: 2)

    /// The floor in milliseconds: `commits × commit + roundTrips × roundTrip`.
    /// - Parameters:
    ///   - commit: one commit's latency (ms).
    ///   - roundTrip: one worker round trip's latency (ms).
    public func milliseconds(commit: Double, roundTrip: Double) -> Double {
        Double(commits) * commit + Double(roundTrips) * roundTrip
    }

    /// "4 commits + 3 round trips".
    public var formula: String {
        "\(commits) commit\(commits == 1 ? "" : "s") + \(roundTrips) round trip\(roundTrips == 1 ? "" : "s")"
    }
}

/// The floors measured in one column, one sample per repetition (the p50 and p99 of that
/// repetition's sequential commits and round trips).
public struct FloorSamples: Sendable {
    /// What was committed: "WAL commit" (SQLite) or "PostgreSQL commit".
    public var commitKind: String
    public var commitP50: [Double] = []
    public var commitP99: [Double] = []
    public var roundTripP50: [Double] = []
    public var roundTripP99: [Double] = []

    /// - Parameter commitKind: what was committed, for the row names.
    public init(commitKind: String) { self.commitKind = commitKind }

    /// Adds one repetition's commit and round-trip latencies (ms).
    public mutating func add(commits: [Double], roundTrips: [Double]) {
        commitP50.append(percentile(commits, 0.5))
        commitP99.append(percentile(commits, 0.99))
        roundTripP50.append(percentile(roundTrips, 0.5))
        roundTripP99.append(percentile(roundTrips, 0.99))
    }
}

extension BenchColumn {
    /// Row names of the floors and multiples, shared by every column that measures them.
    public enum FloorRow {
        public static func commit(_ kind: String, _ p: String) -> String { "floor: \(kind) \(p) (ms)" }
        public static func roundTrip(_ p: String) -> String { "floor: worker round trip \(p) (ms)" }
        public static func floor(_ workload: String, _ count: FloorCount) -> String {
            "\(workload) floor: \(count.formula) (ms)"
        }
        public static func multiple(_ latencyRow: String) -> String { "\(latencyRow) ÷ floor (×)" }
    }

    /// Appends the floor rows and, for W2 p50 and W3, the floor their counts give and the latency's
    /// multiple of it, repetition by repetition (both lists hold one sample per repetition, as
    /// `floors` does). A latency row not measured is skipped.
    /// - Parameters:
    ///   - floors: the commit and round-trip latencies measured in this column.
    ///   - w2Row: the W2 p50 row's name.
    ///   - w3Row: the W3 row's name.
    public mutating func addFloors(
        _ floors: FloorSamples, w2Row: String = "W2 latency p50 (ms)", w3Row: String = "W3 ms per sequential activity"
    ) {
        add(FloorRow.commit(floors.commitKind, "p50"), floors.commitP50)
        add(FloorRow.commit(floors.commitKind, "p99"), floors.commitP99)
        add(FloorRow.roundTrip("p50"), floors.roundTripP50)
        add(FloorRow.roundTrip("p99"), floors.roundTripP99)
        for (workload, row, count) in [("W2", w2Row, FloorCount.oneActivityWorkflow), ("W3", w3Row, .sequentialActivity)] {
            guard let latency = figure(row) else { continue }
            let floor = zip(floors.commitP50, floors.roundTripP50).map { count.milliseconds(commit: $0, roundTrip: $1) }
            add(FloorRow.floor(workload, count), floor)
            add(FloorRow.multiple(row), zip(latency.samples, floor).map { $1 > 0 ? $0 / $1 : .nan })
            floorCounts.append((workload, count))
        }
    }
}
