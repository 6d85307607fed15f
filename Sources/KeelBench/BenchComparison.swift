public import KeelCore

/// A run saved earlier with `keel bench --json FILE` (or `--format json`), as `--compare` reads it:
/// each column's row medians.
public struct BenchBaseline: Sendable {
    /// Where the report was read from, for messages.
    public var source: String
    /// Column titles in the file's order, each with its rows' medians.
    public var columns: [(title: String, medians: [String: Double])]

    /// Why a saved report cannot be compared with, in one line.
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        init(_ message: String) { self.message = message }
    }

    /// Reads the report in `bytes` (the file at `source`).
    /// - Parameters:
    ///   - bytes: the file's contents.
    ///   - source: the file's path, for the error messages.
    /// - Throws: ``Error`` when it is not JSON, or not an array of `{"column", "figures"}` objects
    ///   with numeric medians.
    public init(bytes: [UInt8], source: String) throws {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw Error("\(source) is not JSON (\(error)); give a file written by keel bench --json")
        }
        try self.init(json: value, source: source)
    }

    /// Reads a parsed report.
    /// - Throws: ``Error`` when `json` is not an array of `{"column", "figures"}` objects.
    public init(json: JSONValue, source: String) throws {
        let shape = "is not a keel bench report (an array of {\"column\", \"figures\"} objects, as keel bench --json writes)"
        guard let array = json.arrayValue, !array.isEmpty else { throw Error("\(source) \(shape)") }
        self.source = source
        columns = []
        for item in array {
            guard let title = item["column"]?.stringValue, let figures = item["figures"]?.objectValue else {
                throw Error("\(source) \(shape)")
            }
            var medians: [String: Double] = [:]
            for (name, figure) in figures {
                guard let median = figure["median"]?.doubleValue else {
                    throw Error("\(source): row \"\(name)\" of column \(title) has no numeric median")
                }
                medians[name] = median
            }
            columns.append((title, medians))
        }
    }

    /// The medians of column `title`, if the saved run had it.
    public func medians(_ title: String) -> [String: Double]? { columns.first { $0.title == title }?.medians }
}

/// A new run against a saved one: per row and column present in both, new median ÷ old median.
public struct BenchComparison: Sendable {
    /// Where the saved run came from, for the heading.
    public var source: String
    /// The columns present in both runs, in the new run's order.
    public var columnTitles: [String]
    /// Rows present in both runs (in at least one shared column), in the new run's order.
    public var rows: [String]
    private var ratios: [String: [String: Double]]

    /// Compares `columns` with `baseline`.
    /// - Throws: ``BenchBaseline/Error`` when no column of the new run is in the saved one (a run
    ///   of another kind: other languages, durabilities or `--store` nodes).
    public init(_ columns: [BenchColumn], with baseline: BenchBaseline, source: String) throws {
        try Self.checkColumns(columns.map(\.title), against: baseline, source: source)
        self.source = source
        columnTitles = []
        rows = []
        ratios = [:]
        for column in columns {
            guard let old = baseline.medians(column.title) else { continue }
            columnTitles.append(column.title)
            for (name, figure) in column.figures {
                guard let before = old[name] else { continue }
                if !rows.contains(name) { rows.append(name) }
                let after = figure.median
                // A saved 0 is also how a report writes "not measured": no ratio, not infinity.
                guard before != 0, !after.isNaN, !before.isNaN else { continue }
                ratios[name, default: [:]][column.title] = after / before
            }
        }
    }

    /// Fails unless one of `titles` is a column of `baseline`; run before a long bench, so a wrong
    /// file is said at once.
    /// - Throws: ``BenchBaseline/Error`` naming both sets of columns.
    public static func checkColumns(_ titles: [String], against baseline: BenchBaseline, source: String) throws {
        guard titles.contains(where: { baseline.medians($0) != nil }) else {
            throw BenchBaseline.Error(
                "\(source) has no column of this run (it has \(baseline.columns.map(\.title).joined(separator: ", "));"
                    + " this run has \(titles.joined(separator: ", "))): compare runs of the same kind")
        }
    }

    /// New median ÷ old median of `row` in `column`; nil when either run lacks it or the old one is 0.
    public func ratio(row: String, column: String) -> Double? { ratios[row]?[column] }

    /// The ratios as a text table, with which way each row improves.
    public func table() -> String {
        let width = (rows.map(\.count).max() ?? 10) + 2
        let colWidth = max(16, (columnTitles.map(\.count).max() ?? 0) + 2)
        var out = "compared with \(source): new ÷ old median per row (1.00 = unchanged; better: the direction that is an improvement)\n"
        out += BenchReport.pad("workload", width) + columnTitles.map { BenchReport.pad($0, colWidth) }.joined() + "better\n"
        for row in rows {
            out += BenchReport.pad(row, width)
            for title in columnTitles {
                out += BenchReport.pad(ratio(row: row, column: title).map { BenchReport.formatted($0, decimals: 2) + "×" } ?? "-", colWidth)
            }
            out += (BenchReport.better(row).map { "\($0.rawValue) is better" } ?? "") + "\n"
        }
        return out
    }
}
