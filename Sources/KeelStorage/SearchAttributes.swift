public import Foundation
public import KeelCore

/// A workflow's search attributes (docs/protocol.md, "Search attributes and memo"): typed values,
/// set at start and upserted by the workflow, kept on the execution's row as a JSON object and
/// indexed one row per key (`workflow_attributes`), so `workflow/list`'s `query` finds them.
public enum SearchAttributes {
    /// The most attributes one execution holds.
    public static let maxKeys = 32
    /// The longest string value, in UTF-8 bytes.
    public static let maxStringBytes = 1_024
    /// The largest memo, as JSON text.
    public static let maxMemoBytes = 32 * 1_024
    /// The names a query uses for an execution's own fields: no attribute may take one.
    public static let builtinNames: Set<String> = ["workflowId", "name", "status", "startedAt", "createdAt", "updatedAt"]

    /// What an attribute's value is; a query compares a value only with a literal of its kind.
    public enum Kind: String, Sendable {
        case string, number, bool
    }

    /// One index row: strings keep their text (and, when they are RFC 3339 times, the instant in
    /// epoch ms as their number, so `dueAt > "2026-12-01"` compares instants); numbers keep their
    /// value; booleans keep 1 or 0.
    public struct IndexRow: Sendable {
        public var key: String
        public var kind: Kind
        public var text: String?
        public var number: Double?
    }

    public static func indexRows(_ attributes: JSONValue?) -> [IndexRow] {
        guard let object = attributes?.objectValue else { return [] }
        return object.compactMap { key, value in
            switch value {
            case .string(let s): IndexRow(key: key, kind: .string, text: s, number: RFC3339.epochMillis(s).map(Double.init))
            case .number(let n): IndexRow(key: key, kind: .number, number: n.doubleValue)
            case .bool(let b): IndexRow(key: key, kind: .bool, number: b ? 1 : 0)
            default: nil
            }
        }
    }

    /// `current` with `changes` applied: a null removes its key. Nil when nothing is left.
    public static func merged(_ current: JSONValue?, _ changes: JSONObject) -> JSONValue? {
        var object = current?.objectValue ?? JSONObject()
        for (key, value) in changes {
            // Not `object[key] = value.isNull ? nil : value`: that `nil` would be JSON null.
            if value.isNull { _ = object.removeValue(forKey: key) } else { object[key] = value }
        }
        return object.isEmpty ? nil : .object(object)
    }
}

/// Unindexed JSON an execution keeps on its row besides its input, written whole by a step of
/// its run (docs/protocol.md): its memo, and the latest value of each query it publishes.
public enum ExecutionData: String, Sendable {
    /// `{key: value}`, upserted (`upsert` steps named `memo`).
    case memo
    /// `{query name: {value, seq, atMs}}` (`query` steps).
    case queryValues
    /// `{updateId: {name, status, result | failure, seq, atMs}}` (`respond` steps).
    case updateOutcomes

    /// Its column in `workflows`.
    public var column: String {
        switch self {
        case .memo: "memo"
        case .queryValues: "query_values"
        case .updateOutcomes: "update_outcomes"
        }
    }
}

/// RFC 3339 times as a query and the attribute index read them.
public enum RFC3339 {
    /// The instant `text` names, in epoch ms: a date-time with a zone (`2026-12-01T10:00:00Z`,
    /// fractions allowed) or a date alone (`2026-12-01`, its midnight UTC). Nil for anything else.
    public static func epochMillis(_ text: String) -> EpochMillis? {
        // Cheap refusal first: every form starts with four digits and a hyphen.
        let head = text.utf8.prefix(5)
        guard head.count == 5, head.prefix(4).allSatisfy({ (48...57).contains($0) }), head.last == UInt8(ascii: "-") else {
            return nil
        }
        let formatter = ISO8601DateFormatter()
        let forms: [ISO8601DateFormatter.Options] = [
            [.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds], [.withFullDate],
        ]
        for options in forms {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return EpochMillis((date.timeIntervalSince1970 * 1000).rounded()) }
        }
        return nil
    }
}
