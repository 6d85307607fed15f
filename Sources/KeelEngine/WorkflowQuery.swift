import Foundation
import KeelCore
import KeelStorage

/// The filter language of `workflow/batch` (docs/cli.md, "Batch operations"): terms
/// `key=value` joined by `AND`, e.g. `status=running AND name=orders.* AND createdBefore=2026-12-01T00:00:00Z`.
///
/// Keys: `status` (one status, or several as `running|suspended`; `open` means
/// pending|running|suspended), `name` and `workflowId` (exact, or a prefix ending in `*`),
/// `createdAfter` and `createdBefore` (epoch milliseconds or an RFC 3339 time; after is
/// inclusive, before exclusive, as in `workflow/list`). Values with spaces go in quotes.
/// There is no `OR` and no `NOT`: a batch per alternative keeps each one's dry-run count honest.
struct WorkflowQuery: Sendable, Equatable {
    var statuses: Set<WorkflowStatus>?
    var name: Pattern?
    var workflowId: Pattern?
    var createdAfter: EpochMillis?
    var createdBefore: EpochMillis?

    /// An exact value, or a prefix (the value ended in `*`).
    enum Pattern: Sendable, Equatable {
        case exact(String)
        case prefix(String)

        func matches(_ s: String) -> Bool {
            switch self {
            case .exact(let v): s == v
            case .prefix(let p): s.hasPrefix(p)
            }
        }
    }

    static let keys = ["status", "name", "workflowId", "createdAfter", "createdBefore"]
    static let openStatuses: Set<WorkflowStatus> = [.pending, .running, .suspended]

    /// The store filter that narrows the scan: a single status, an exact name, the time bounds.
    var storeFilter: WorkflowFilter {
        var f = WorkflowFilter()
        if let statuses, statuses.count == 1 { f.status = statuses.first }
        if case .exact(let n)? = name { f.name = n }
        f.createdAfter = createdAfter
        f.createdBefore = createdBefore
        return f
    }

    func matches(_ w: WorkflowRecord) -> Bool {
        if let statuses, !statuses.contains(w.status) { return false }
        if let name, !name.matches(w.name) { return false }
        if let workflowId, !workflowId.matches(w.id) { return false }
        if let createdAfter, w.createdAt < createdAfter { return false }
        if let createdBefore, w.createdAt >= createdBefore { return false }
        return true
    }

    /// Parses `text`.
    /// - Throws: `KeelError(.invalidQuery)` naming the term, its character offset and what was
    ///   expected, with `data: {query, position, term?}`.
    init(parsing text: String) throws {
        let terms = try Self.split(text)
        guard !terms.isEmpty else {
            throw Self.error(text, at: 0, "the query is empty; say which workflows, e.g. status=running AND name=orders.*")
        }
        for (term, offset) in terms {
            try apply(term, offset: offset, query: text)
        }
    }

    private mutating func apply(_ term: String, offset: Int, query: String) throws {
        guard let eq = term.firstIndex(of: "=") else {
            if term.contains(where: { "<>".contains($0) }) {
                throw Self.error(query, at: offset, "\(Self.quoted(term)): only = is supported", term: term)
            }
            throw Self.error(query, at: offset, "\(Self.quoted(term)) is not a term; write key=value (keys: \(Self.keys.joined(separator: ", ")))", term: term)
        }
        var key = String(term[..<eq]).trimmingCharacters(in: .whitespaces)
        if key.hasSuffix("!") || key.hasSuffix("<") || key.hasSuffix(">") {
            throw Self.error(query, at: offset, "\(Self.quoted(term)): only = is supported", term: term)
        }
        let value = Self.unquote(String(term[term.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
        guard !value.isEmpty else { throw Self.error(query, at: offset, "\(Self.quoted(term)) has no value", term: term) }
        if !Self.keys.contains(key) {
            let hint = NameSuggestions.suggestions(for: key, among: Self.keys, limit: 1).first.map { " (did you mean \($0)?)" } ?? ""
            throw Self.error(query, at: offset,
                "unknown key \(Self.quoted(key))\(hint); keys: \(Self.keys.joined(separator: ", "))", term: term)
        }
        key = key.trimmingCharacters(in: .whitespaces)
        func once<T>(_ current: T?) throws {
            if current != nil { throw Self.error(query, at: offset, "\(key) is given twice; a workflow has one \(key)", term: term) }
        }
        switch key {
        case "status":
            try once(statuses)
            var set: Set<WorkflowStatus> = []
            for part in value.split(separator: "|", omittingEmptySubsequences: false).map(String.init) {
                if part == "open" { set.formUnion(Self.openStatuses); continue }
                guard let s = WorkflowStatus(rawValue: part) else {
                    throw Self.error(query, at: offset,
                        "status \(Self.quoted(part)) is not one of open, \(WorkflowStatus.allCases.map(\.rawValue).joined(separator: ", "))",
                        term: term)
                }
                set.insert(s)
            }
            statuses = set
        case "name":
            try once(name)
            name = Self.pattern(value)
        case "workflowId":
            try once(workflowId)
            workflowId = Self.pattern(value)
        default:
            let t = try Self.time(value, query: query, offset: offset, term: term)
            if key == "createdAfter" {
                try once(createdAfter)
                createdAfter = t
            } else {
                try once(createdBefore)
                createdBefore = t
            }
        }
    }

    private static func pattern(_ v: String) -> Pattern {
        v.hasSuffix("*") ? .prefix(String(v.dropLast())) : .exact(v)
    }

    private static func time(_ v: String, query: String, offset: Int, term: String) throws -> EpochMillis {
        if let ms = Int64(v), ms >= 0 { return ms }
        if let ms = RFC3339.epochMillis(v) { return ms }
        throw error(query, at: offset,
            "\(quoted(v)) is not a time; use epoch milliseconds or RFC 3339 such as 2026-12-01T00:00:00Z", term: term)
    }

    /// The terms and their character offsets, split on ` AND ` outside quotes.
    private static func split(_ text: String) throws -> [(String, Int)] {
        let chars = Array(text)
        var terms: [(String, Int)] = []
        var current = "", start = 0, quote: Character?
        var i = 0
        func flush(at end: Int) throws {
            let t = current.trimmingCharacters(in: .whitespaces)
            if t.isEmpty, end < chars.count || !terms.isEmpty {
                throw error(text, at: end, "AND needs a term on each side")
            }
            if !t.isEmpty { terms.append((t, start + (current.count - current.drop { $0 == " " }.count))) }
            current = ""
        }
        while i < chars.count {
            let c = chars[i]
            if let q = quote {
                current.append(c)
                if c == q { quote = nil }
                i += 1
                continue
            }
            if c == "\"" || c == "'" {
                quote = c
                current.append(c)
                i += 1
                continue
            }
            if c == " ", let word = keyword(chars, at: i + 1) {
                if word == "OR" || word == "NOT" {
                    throw error(text, at: i + 1,
                        "\(word) is not supported; terms are joined by AND (status takes alternatives: status=running|suspended)")
                }
                try flush(at: i)
                i = min(chars.count, i + 1 + word.count + 1)
                start = i
                continue
            }
            current.append(c)
            i += 1
        }
        if quote != nil { throw error(text, at: chars.count, "a quote is not closed") }
        try flush(at: chars.count)
        return terms
    }

    /// `AND`, `OR` or `NOT` (any case) at `i`, followed by a space.
    private static func keyword(_ chars: [Character], at i: Int) -> String? {
        for word in ["AND", "OR", "NOT"] {
            let end = i + word.count
            guard end <= chars.count, end == chars.count || chars[end] == " " else { continue }
            if String(chars[i..<end]).uppercased() == word { return word }
        }
        return nil
    }

    private static func unquote(_ v: String) -> String {
        guard v.count >= 2, let f = v.first, f == "\"" || f == "'", v.last == f else { return v }
        return String(v.dropFirst().dropLast())
    }

    private static func quoted(_ s: String) -> String { "`\(s)`" }

    /// An `invalidQuery` error at character `position` of `query`, naming `term` (shared by the
    /// batch filter and `workflow/list`'s query).
    static func error(_ query: String, at position: Int, _ message: String, term: String? = nil) -> KeelError {
        var data: [String: JSONValue] = ["query": .string(query), "position": JSONValue(position)]
        if let term { data["term"] = .string(term) }
        return KeelError(.invalidQuery, "bad query at character \(position): \(message)", data: .object(data))
    }
}
