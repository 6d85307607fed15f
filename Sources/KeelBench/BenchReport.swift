public import KeelCore

/// The bench's table and JSON report.
public enum BenchReport {
    /// The targets of issue 15 (its second list, for SQLite), printed beside their rows; the
    /// `--store postgres://…` columns have issue 12's own (docs/scaling.md).
    public static let targets: [String: String] = [
        "W1 200 wf: workflows/s": "≥ 3000 (Temporal 14–28, DBOS 66)",
        "W1 2000 wf: workflows/s": "≥ 3000",
        "W2 latency p50 (ms)": "≤ 1.0 (Temporal 100, DBOS 6.1)",
        "W2 latency p99 (ms)": "≤ 3",
        "W3 ms per sequential activity": "≤ 0.35 (Temporal 50, DBOS 2.1)",
        "W4 activity/call: calls/s (8 clients)": "≥ 15000 (C/Go worker)",
        "RSS idle (MiB)": "≤ 25 (Temporal 144)",
        "RSS peak (MiB, after W1 2000)": "≤ 80 (Temporal > 300)",
    ]

    /// Which way a row improves.
    public enum Better: String, Sendable {
        case higher, lower
    }

    /// Which way row `name` improves: rates (`…/s`) higher; times, memory, CPU, transactions per
    /// unit, thread switches and multiples of a floor lower; nil when the row says neither.
    public static func better(_ name: String) -> Better? {
        if name.contains("/s") && !name.contains("÷") { return .higher }
        let lower = ["(ms", "ms per", "MiB", "(×)", "transactions per", "switches per", "CPU"]
        return lower.contains { name.contains($0) } ? .lower : nil
    }

    /// A number for the table: integers from 100, one decimal from 10, two below; "-" for NaN.
    public static func number(_ v: Double) -> String {
        if v.isNaN || v.isInfinite { return "-" }
        if v >= 100 { return String(Int(v.rounded())) }
        return formatted(v, decimals: v >= 10 ? 1 : 2)
    }

    /// A figure for the table: "median (min–max)", or the median alone for one sample.
    public static func format(_ f: Figure) -> String {
        f.samples.count > 1 && f.min != f.max ? "\(number(f.median)) (\(number(f.min))–\(number(f.max)))" : number(f.median)
    }

    /// `v` with `decimals` digits after the point (no Foundation: this module does no I/O).
    static func formatted(_ v: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(v) * scale).rounded()
        let whole = Int(scaled / scale)
        var fraction = String(Int(scaled) - whole * Int(scale))
        while fraction.count < decimals { fraction = "0" + fraction }
        return (v < 0 && scaled > 0 ? "-" : "") + "\(whole)" + (decimals > 0 ? ".\(fraction)" : "")
    }

    static func pad(_ s: String, _ w: Int) -> String {
        s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count)
    }

    /// Every row name, in the order the columns measured them (the first column's first).
    static func rowNames(_ columns: [BenchColumn]) -> [String] {
        var names: [String] = []
        for c in columns { for (name, _) in c.figures where !names.contains(name) { names.append(name) } }
        return names
    }

    /// The text table: one row per figure, one column per ``BenchColumn``, then the targets.
    /// - Parameter repetitions: how many repetitions each figure has, for the heading.
    public static func table(_ columns: [BenchColumn], repetitions: Int) -> String {
        guard !columns.isEmpty else { return "" }
        let names = rowNames(columns)
        let width = (names.map(\.count).max() ?? 10) + 2
        let colWidth = 26
        var out = "keel bench — \(repetitions) repetition(s), median (min–max); workers over a Unix socket\n"
        out += pad("workload", width) + columns.map { pad($0.title, colWidth) }.joined() + "target\n"
        for name in names {
            out += pad(name, width)
            for c in columns { out += pad(c.figure(name).map(format) ?? "-", colWidth) }
            out += (targets[name] ?? "") + "\n"
        }
        let counts = columns.flatMap(\.floorCounts)
        if !counts.isEmpty {
            out += "floors: each commit and round trip measured in the column's own session, one after another;"
            out += " a floor is commits × commit p50 + round trips × round-trip p50\n"
        }
        return out
    }

    /// The JSON report: an array of `{"column", "figures": {row: {"median", "min", "max"}},
    /// "floorCounts": {workload: {"commits", "roundTrips"}}}`, what `--compare` reads back.
    /// With `comparison`, each figure present in both runs also has `"ratio"` (new ÷ old median).
    public static func json(_ columns: [BenchColumn], comparison: BenchComparison? = nil) -> JSONValue {
        func value(_ v: Double) -> JSONValue { JSONValue(v.isNaN || v.isInfinite ? 0 : v) }
        return .array(columns.map { c in
            var figures = JSONObject()
            for (name, f) in c.figures where figures[name] == nil {
                var figure: JSONObject = ["median": value(f.median), "min": value(f.min), "max": value(f.max)]
                if let ratio = comparison?.ratio(row: name, column: c.title) { figure["ratio"] = value(ratio) }
                figures[name] = .object(figure)
            }
            var column: JSONObject = ["column": .string(c.title), "figures": .object(figures)]
            if !c.floorCounts.isEmpty {
                column["floorCounts"] = .object(JSONObject(c.floorCounts.map { workload, count in
                    (workload, ["commits": JSONValue(count.commits), "roundTrips": JSONValue(count.roundTrips)])
                }))
            }
            return .object(column)
        })
    }
}
