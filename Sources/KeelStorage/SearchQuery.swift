public import KeelCore

/// A parsed `workflow/list` query (docs/protocol.md, "Search attributes and memo"): comparisons of
/// an execution's own fields and its search attributes, joined by AND, OR and NOT. Each store
/// turns it into SQL (``SearchQuery/sql(_:)``), so the filtering happens in the database's indexes.
public indirect enum SearchQuery: Sendable, Equatable {
    case all([SearchQuery])
    case any([SearchQuery])
    case not(SearchQuery)
    case compare(SearchField, SearchComparison, SearchLiteral)
    case startsWith(SearchField, String)
}

/// What a comparison reads.
public enum SearchField: Sendable, Equatable {
    case workflowId, name, status
    /// When the execution was started (`startedAt` and `createdAt` in a query).
    case createdAt
    case updatedAt
    case attribute(String)

    /// The column of a built-in field.
    var column: String? {
        switch self {
        case .workflowId: "workflow_id"
        case .name: "name"
        case .status: "status"
        case .createdAt: "created_at"
        case .updatedAt: "updated_at"
        case .attribute: nil
        }
    }
}

public enum SearchComparison: String, Sendable, CaseIterable {
    case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="

    /// The operator in SQL.
    var sql: String { self == .notEqual ? "<>" : rawValue }
}

/// A literal, typed by how the query wrote it (and, for times, by what it compares with).
public enum SearchLiteral: Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    /// An instant in epoch ms: a time written as RFC 3339 text, compared with a time field or with
    /// string attributes holding RFC 3339 times.
    case time(EpochMillis)
}

/// The SQL a store runs for a query: text with placeholders, and their values in order.
public struct SQLFragment: Sendable {
    public enum Bind: Sendable, Equatable {
        case text(String)
        case int(Int64)
        case real(Double)
    }

    public var text: String
    public var binds: [Bind]
}

/// Where the two stores' SQL differs.
public enum SQLDialect: Sendable {
    case sqlite, postgres

    func placeholder(_ n: Int) -> String { self == .sqlite ? "?" : "$\(n)" }
    /// Byte order for text comparisons (PostgreSQL's default collation follows the locale).
    var binaryCollation: String { self == .sqlite ? "" : " COLLATE \"C\"" }
}

extension SearchQuery {
    /// A boolean SQL expression over the `workflows` table, for `dialect`; its placeholders number
    /// from `firstPlaceholder`.
    public func sql(_ dialect: SQLDialect, firstPlaceholder: Int = 1) -> SQLFragment {
        var builder = SQLBuilder(dialect: dialect, next: firstPlaceholder)
        let text = builder.expression(self)
        return SQLFragment(text: text, binds: builder.binds)
    }
}

private struct SQLBuilder {
    let dialect: SQLDialect
    var next: Int
    var binds: [SQLFragment.Bind] = []

    mutating func bind(_ value: SQLFragment.Bind) -> String {
        binds.append(value)
        defer { next += 1 }
        return dialect.placeholder(next)
    }

    mutating func expression(_ q: SearchQuery) -> String {
        switch q {
        case .all(let parts): return "(" + parts.map { expression($0) }.joined(separator: " AND ") + ")"
        case .any(let parts): return "(" + parts.map { expression($0) }.joined(separator: " OR ") + ")"
        case .not(let inner): return "(NOT " + expression(inner) + ")"
        case .compare(let field, let op, let literal): return compare(field, op, literal)
        case .startsWith(let field, let prefix):
            let length = prefix.count
            if let column = field.column {
                return left(column, length) + " = " + bind(.text(prefix))
            }
            guard case .attribute(let key) = field else { return "FALSE" }
            return attributeHolds(key) { $0.left("text_value", length) + " = " + $0.bind(.text(prefix)) + " AND kind = 'string'" }
        }
    }

    private func left(_ column: String, _ length: Int) -> String {
        dialect == .sqlite ? "substr(\(column), 1, \(length))" : "left(\(column), \(length))"
    }

    private mutating func compare(_ field: SearchField, _ op: SearchComparison, _ literal: SearchLiteral) -> String {
        if let column = field.column {
            switch literal {
            case .time(let ms): return "\(column) \(op.sql) " + bind(.int(ms))
            case .string(let s): return "\(column)\(dialect.binaryCollation) \(op.sql) " + bind(.text(s))
            case .number(let n): return "\(column) \(op.sql) " + bind(.real(n))
            case .bool: return "FALSE"
            }
        }
        guard case .attribute(let key) = field else { return "FALSE" }
        // `!=` holds for executions whose attribute differs or that lack it: NOT of `=`.
        if op == .notEqual { return "(NOT " + compare(field, .equal, literal) + ")" }
        return attributeHolds(key) { b in
            switch literal {
            case .string(let s): "kind = 'string' AND text_value\(b.dialect.binaryCollation) \(op.sql) " + b.bind(.text(s))
            case .time(let ms): "kind = 'string' AND number_value \(op.sql) " + b.bind(.real(Double(ms)))
            case .number(let n): "kind = 'number' AND number_value \(op.sql) " + b.bind(.real(n))
            case .bool(let v): "kind = 'bool' AND number_value \(op.sql) " + b.bind(.real(v ? 1 : 0))
            }
        }
    }

    /// Executions with attribute `key` whose index row meets `condition`: one indexed probe of
    /// `workflow_attributes` by (key, value).
    private mutating func attributeHolds(_ key: String, _ condition: (inout SQLBuilder) -> String) -> String {
        let keyPlaceholder = bind(.text(key))
        let rest = condition(&self)
        return "workflow_id IN (SELECT workflow_id FROM workflow_attributes WHERE key = \(keyPlaceholder) AND \(rest))"
    }
}

extension SearchQuery {
    /// The search attribute keys the query compares, each once, in order of appearance.
    public var attributeKeys: [String] {
        var keys: [String] = []
        func walk(_ q: SearchQuery) {
            switch q {
            case .all(let parts), .any(let parts): parts.forEach(walk)
            case .not(let inner): walk(inner)
            case .compare(let field, _, _), .startsWith(let field, _):
                if case .attribute(let key) = field, !keys.contains(key) { keys.append(key) }
            }
        }
        walk(self)
        return keys
    }
}

/// The search attribute keys some execution has, for a query's hint about a key none has.
public enum SearchAttributeKeys {
    /// The most keys a hint reads.
    public static let limit = 1_000

    /// The distinct keys of `workflow_attributes` in order, at most ``limit``: a loose index scan
    /// (one index seek per key, however many executions hold each), the same SQL on SQLite and
    /// PostgreSQL.
    public static let sql = """
        WITH RECURSIVE k(key, n) AS (
            SELECT min(key), 1 FROM workflow_attributes
            UNION ALL
            SELECT (SELECT min(key) FROM workflow_attributes WHERE key > k.key), n + 1 FROM k
            WHERE k.key IS NOT NULL AND n < \(limit)
        )
        SELECT key FROM k WHERE key IS NOT NULL
        """
}
