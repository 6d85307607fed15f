public import KeelCore

/// The two spellings of an activity limit, read by one parser: keel.json's
/// `"activities": {"llm.complete": {"maxConcurrent": 2, "ratePerMinute": 120}}` (`keel dev`) and
/// `keel serve --activity-limit llm.complete=concurrency:2,rate:2/s` (or the same JSON object after
/// the `=`). Both end in `init(maxConcurrent:ratePerMinute:validating:)`, so they accept and refuse
/// the same values.
extension ActivityLimit {
    /// Checks the values: a concurrency of 1 to 1,000,000, a rate above 0 and at most 1e9 a minute.
    /// - Throws: `KeelError(.invalidParams)` naming `context` and the bad value.
    public init(maxConcurrent: Int?, ratePerMinute: Double?, validating context: String) throws {
        if let maxConcurrent, !(1...1_000_000).contains(maxConcurrent) {
            throw KeelError(.invalidParams, "\(context): maxConcurrent must be from 1 to 1000000, not \(maxConcurrent)")
        }
        if let ratePerMinute, !(ratePerMinute > 0 && ratePerMinute <= 1e9) {
            throw KeelError(.invalidParams, "\(context): ratePerMinute must be more than 0 and at most 1e9, not \(ratePerMinute)")
        }
        guard maxConcurrent != nil || ratePerMinute != nil else {
            throw KeelError(.invalidParams, "\(context): set maxConcurrent, ratePerMinute or both")
        }
        self.init(maxConcurrent: maxConcurrent, ratePerMinute: ratePerMinute)
    }

    /// Reads keel.json's object `{"maxConcurrent": n, "ratePerMinute": r}`.
    public init(json: JSONValue, context: String) throws {
        guard case .object(let o) = json else { throw KeelError(.invalidParams, "\(context) must be an object") }
        for key in o.keys where key != "maxConcurrent" && key != "ratePerMinute" {
            throw KeelError(.invalidParams, "\(context): unknown field \(key) (maxConcurrent, ratePerMinute)")
        }
        let concurrent = try o["maxConcurrent"].map { v -> Int in
            guard let n = v.int64Value, let i = Int(exactly: n) else { throw KeelError(.invalidParams, "\(context): maxConcurrent must be an integer") }
            return i
        }
        let rate = try o["ratePerMinute"].map { v -> Double in
            guard let r = v.doubleValue else { throw KeelError(.invalidParams, "\(context): ratePerMinute must be a number") }
            return r
        }
        try self.init(maxConcurrent: concurrent, ratePerMinute: rate, validating: context)
    }

    /// Reads `concurrency:4,rate:10/s` (rate per `s`, `m` or `h`; either part may be left out)
    /// or a keel.json object `{"maxConcurrent":4,"ratePerMinute":600}`.
    public init(spec: String, context: String) throws {
        if spec.hasPrefix("{") {
            let json: JSONValue
            do { json = try JSONParser.parse(spec) } catch { throw KeelError(.invalidParams, "\(context): not JSON: \(error)") }
            try self.init(json: json, context: context)
            return
        }
        var concurrent: Int?, rate: Double?
        for part in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let kv = part.split(separator: ":", maxSplits: 1).map(String.init)
            switch (kv.first, kv.count) {
            case ("concurrency", 2):
                guard let n = Int(kv[1]) else { throw KeelError(.invalidParams, "\(context): concurrency takes a whole number") }
                concurrent = n
            case ("rate", 2):
                rate = try Self.perMinute(kv[1], context: context)
            default:
                throw KeelError(.invalidParams, "\(context): \(part) is not concurrency:N or rate:N/s (or /m, /h)")
            }
        }
        try self.init(maxConcurrent: concurrent, ratePerMinute: rate, validating: context)
    }

    /// `10/s`, `600/m`, `5/h` as a rate per minute.
    private static func perMinute(_ text: String, context: String) throws -> Double {
        let parts = text.split(separator: "/").map(String.init)
        let factors: [String: Double] = ["s": 60, "m": 1, "h": 1.0 / 60]
        guard parts.count == 2, let n = Double(parts[0]), n.isFinite, let factor = factors[parts[1]] else {
            throw KeelError(.invalidParams, "\(context): rate takes N/s, N/m or N/h, not \(text)")
        }
        return n * factor
    }

    /// Reads `--activity-limit` values `NAME=SPEC`, one per activity name.
    /// - Throws: `KeelError(.invalidParams)` for a bad spec or a name given twice.
    public static func parseAssignments(_ values: [String]) throws -> [String: ActivityLimit] {
        var out: [String: ActivityLimit] = [:]
        for value in values {
            let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw KeelError(.invalidParams, "--activity-limit takes NAME=concurrency:N,rate:N/s, not \(value)")
            }
            guard out[parts[0]] == nil else { throw KeelError(.invalidParams, "--activity-limit \(parts[0]) is given twice") }
            out[parts[0]] = try ActivityLimit(spec: parts[1], context: "--activity-limit \(parts[0])")
        }
        return out
    }
}
