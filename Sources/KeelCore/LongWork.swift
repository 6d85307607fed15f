/// What counts as work long enough to hold up other connections, and so runs on a thread of its
/// own: parsing a large frame, validating a large payload (docs/guarantees.md, "Where validation
/// runs").
///
/// Small work stays on the thread that has it: moving it would cost two thread crossings, more
/// than the work itself. The line is drawn by size, at about a millisecond of parsing or
/// validating on this kind of machine.
public enum LongWork {
    /// Frames and payloads of at least this many bytes go to a thread of their own.
    public static let thresholdBytes = 256 * 1024

    /// Whether `value` written as JSON would take about ``thresholdBytes`` or more. The walk stops
    /// as soon as it knows, so it costs little for a small value and at most a bounded walk for a
    /// large one.
    public static func isLong(_ value: JSONValue) -> Bool {
        var budget = thresholdBytes
        return !fits(value, within: &budget)
    }

    /// Subtracts `value`'s approximate written size from `budget`; false once it runs out.
    private static func fits(_ value: JSONValue, within budget: inout Int) -> Bool {
        switch value {
        case .null, .bool: budget -= 5
        case .number: budget -= 8
        case .string(let s): budget -= s.utf8.count + 2
        case .array(let elements):
            budget -= 2
            for element in elements {
                budget -= 1
                guard budget > 0, fits(element, within: &budget) else { return false }
            }
        case .object(let members):
            budget -= 2
            for (key, member) in members {
                budget -= key.utf8.count + 4
                guard budget > 0, fits(member, within: &budget) else { return false }
            }
        }
        return budget > 0
    }
}
