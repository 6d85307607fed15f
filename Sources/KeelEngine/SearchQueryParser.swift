import KeelCore
import KeelStorage

/// Parses `workflow/list`'s `query` (docs/protocol.md, "Search attributes and memo"):
///
///     query      := or
///     or         := and ("OR" and)*
///     and        := unary ("AND" unary)*
///     unary      := "NOT" unary | "(" or ")" | comparison
///     comparison := field op literal | field "IN" "(" literal ("," literal)* ")"
///                 | field "STARTS_WITH" string
///     op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
///     literal    := string ("…" or '…') | number | true | false
///
/// Fields are the built-ins (`workflowId`, `name`, `status`, `startedAt` or `createdAt`,
/// `updatedAt`) or a search attribute's key. Keywords are case-insensitive. Every error is
/// `invalidQuery` naming the token, its character position and what was expected there.
struct SearchQueryParser {
    /// The longest query, in characters.
    static let maxLength = 4_096
    /// The deepest nesting of parentheses and NOTs (a query is untrusted input).
    static let maxDepth = 32

    private let text: String
    private let tokens: [Token]
    private var position = 0
    private var depth = 0

    /// Parses `text`.
    /// - Throws: `KeelError(.invalidQuery)` with `data: {query, position, term}`.
    static func parse(_ text: String) throws -> SearchQuery {
        guard text.count <= maxLength else {
            throw WorkflowQuery.error(text, at: maxLength, "the query is longer than \(maxLength) characters")
        }
        var parser = SearchQueryParser(text: text, tokens: try Lexer(text).tokens())
        guard !parser.tokens.isEmpty else {
            throw WorkflowQuery.error(text, at: 0, "the query is empty; say which workflows, e.g. status = \"running\" AND customer = \"acme\"")
        }
        let query = try parser.or()
        if let extra = parser.peek {
            throw parser.error(at: extra, "expected AND, OR or the end of the query")
        }
        return query
    }

    private init(text: String, tokens: [Token]) {
        self.text = text
        self.tokens = tokens
    }

    // MARK: Grammar

    private mutating func or() throws -> SearchQuery {
        var parts = [try and()]
        while take(keyword: "OR") { parts.append(try and()) }
        return parts.count == 1 ? parts[0] : .any(parts)
    }

    private mutating func and() throws -> SearchQuery {
        var parts = [try unary()]
        while take(keyword: "AND") { parts.append(try unary()) }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private mutating func unary() throws -> SearchQuery {
        guard let token = peek else { throw endError("expected a comparison such as customer = \"acme\"") }
        if token.isKeyword("NOT") || token.kind == .open {
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw error(at: token, "nests deeper than \(Self.maxDepth) levels") }
            position += 1
            if token.kind == .open {
                let inner = try or()
                guard let close = peek, close.kind == .close else {
                    throw peek.map { error(at: $0, "expected ) to close the ( at \(token.offset)") }
                        ?? endError("expected ) to close the ( at \(token.offset)")
                }
                position += 1
                return inner
            }
            return .not(try unary())
        }
        return try comparison()
    }

    private mutating func comparison() throws -> SearchQuery {
        guard let fieldToken = next(), fieldToken.kind == .word, !fieldToken.isAnyKeyword else {
            throw lastTokenError("expected a field name (workflowId, name, status, startedAt, updatedAt or a search attribute)")
        }
        let field = Self.field(fieldToken.text)
        guard let opToken = next() else {
            throw endError("expected an operator (=, !=, <, <=, >, >=, IN, STARTS_WITH) after \(fieldToken.text)")
        }
        if opToken.isKeyword("IN") {
            guard let open = next(), open.kind == .open else {
                throw lastTokenError("expected ( after IN, as in region IN (\"eu\", \"us\")")
            }
            var alternatives: [SearchQuery] = []
            repeat {
                let literal = try self.literal(after: opToken)
                alternatives.append(try compare(field, .equal, literal, fieldToken: fieldToken))
            } while take(.comma)
            guard let close = next(), close.kind == .close else {
                throw lastTokenError("expected , or ) to end the IN list opened at \(open.offset)")
            }
            return alternatives.count == 1 ? alternatives[0] : .any(alternatives)
        }
        if opToken.isKeyword("STARTS_WITH") {
            let literal = try self.literal(after: opToken)
            guard case .string(let prefix) = literal.value, !prefix.isEmpty else {
                throw error(at: literal.token, "STARTS_WITH takes a non-empty quoted string")
            }
            switch field {
            case .createdAt, .updatedAt, .status:
                throw error(at: opToken, "\(fieldToken.text) cannot take STARTS_WITH; it takes = and !=" + (field == .status ? "" : ", <, <=, >, >="))
            default:
                return .startsWith(field, prefix)
            }
        }
        guard opToken.kind == .operator, let op = SearchComparison(rawValue: opToken.text == "<>" ? "!=" : opToken.text) else {
            throw error(at: opToken, "expected an operator (=, !=, <, <=, >, >=, IN, STARTS_WITH) after \(fieldToken.text)")
        }
        return try compare(field, op, try literal(after: opToken), fieldToken: fieldToken)
    }

    /// A comparison, its literal typed by the field: times for the time fields, a known status for
    /// `status`, and for attributes what the literal is (a time when an ordering compares RFC 3339 text).
    private func compare(_ field: SearchField, _ op: SearchComparison, _ literal: Literal, fieldToken: Token) throws -> SearchQuery {
        switch field {
        case .createdAt, .updatedAt:
            switch literal.value {
            case .number(let n) where n >= 0 && n == n.rounded(): return .compare(field, op, .time(EpochMillis(n)))
            case .string(let s):
                if let t = RFC3339.epochMillis(s) { return .compare(field, op, .time(t)) }
            default: break
            }
            throw error(at: literal.token, "\(fieldToken.text) compares with a time: RFC 3339 such as \"2026-12-01\" or \"2026-12-01T09:30:00Z\", or epoch milliseconds")
        case .status:
            guard case .string(let s) = literal.value, WorkflowStatus(rawValue: s) != nil else {
                throw error(at: literal.token, "status is one of \(WorkflowStatus.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            guard op == .equal || op == .notEqual else { throw error(at: literal.token, "status takes = and != (or IN)") }
            return .compare(field, op, literal.value)
        case .workflowId, .name:
            guard case .string = literal.value else { throw error(at: literal.token, "\(fieldToken.text) compares with a quoted string") }
            return .compare(field, op, literal.value)
        case .attribute:
            switch literal.value {
            case .bool where op != .equal && op != .notEqual:
                throw error(at: literal.token, "a boolean takes = and != only")
            case .string(let s) where op != .equal && op != .notEqual:
                if let t = RFC3339.epochMillis(s) { return .compare(field, op, .time(t)) }
                return .compare(field, op, literal.value)
            default:
                return .compare(field, op, literal.value)
            }
        }
    }

    private static func field(_ name: String) -> SearchField {
        switch name {
        case "workflowId": .workflowId
        case "name": .name
        case "status": .status
        case "startedAt", "createdAt": .createdAt
        case "updatedAt": .updatedAt
        default: .attribute(name)
        }
    }

    private struct Literal {
        var value: SearchLiteral
        var token: Token
    }

    private mutating func literal(after op: Token) throws -> Literal {
        guard let token = next() else { throw endError("expected a value after \(op.text)") }
        switch token.kind {
        case .string: return Literal(value: .string(token.text), token: token)
        case .number:
            guard let n = Double(token.text), n.isFinite else { throw error(at: token, "is not a number") }
            return Literal(value: .number(n), token: token)
        case .word where token.isKeyword("TRUE"): return Literal(value: .bool(true), token: token)
        case .word where token.isKeyword("FALSE"): return Literal(value: .bool(false), token: token)
        default:
            throw error(at: token, "expected a value: a quoted string, a number, true or false (text goes in quotes: \"\(token.text)\")")
        }
    }

    // MARK: Tokens

    private var peek: Token? { position < tokens.count ? tokens[position] : nil }

    private mutating func next() -> Token? {
        defer { position += 1 }
        return peek
    }

    private mutating func take(keyword: String) -> Bool {
        guard let t = peek, t.isKeyword(keyword) else { return false }
        position += 1
        return true
    }

    private mutating func take(_ kind: Token.Kind) -> Bool {
        guard let t = peek, t.kind == kind else { return false }
        position += 1
        return true
    }

    private func error(at token: Token, _ message: String) -> KeelError {
        WorkflowQuery.error(text, at: token.offset, "`\(token.source)`: \(message)", term: token.source)
    }

    /// An error at the token `next()` just took, or at the end if there was none.
    private func lastTokenError(_ message: String) -> KeelError {
        position <= tokens.count ? error(at: tokens[position - 1], message) : endError(message)
    }

    private func endError(_ message: String) -> KeelError {
        WorkflowQuery.error(text, at: text.count, "the query ends too soon: \(message)")
    }
}

/// One token: its kind, its text (a string's content, unquoted), what the query wrote and where.
private struct Token {
    enum Kind { case word, string, number, `operator`, open, close, comma }

    var kind: Kind
    var text: String
    var source: String
    var offset: Int

    static let keywords: Set<String> = ["AND", "OR", "NOT", "IN", "STARTS_WITH", "TRUE", "FALSE"]

    func isKeyword(_ word: String) -> Bool { kind == .word && text.uppercased() == word }
    var isAnyKeyword: Bool { kind == .word && Self.keywords.contains(text.uppercased()) }
}

private struct Lexer {
    let text: String
    let chars: [Character]

    init(_ text: String) {
        self.text = text
        self.chars = Array(text)
    }

    func tokens() throws -> [Token] {
        var out: [Token] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let start = i
            func token(_ kind: Token.Kind, _ value: String, through end: Int) {
                out.append(Token(kind: kind, text: value, source: String(chars[start..<end]), offset: start))
                i = end
            }
            if c.isWhitespace {
                i += 1
            } else if c == "(" {
                token(.open, "(", through: i + 1)
            } else if c == ")" {
                token(.close, ")", through: i + 1)
            } else if c == "," {
                token(.comma, ",", through: i + 1)
            } else if "=!<>".contains(c) {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["!=", "<>", "<=", ">="].contains(two) {
                    token(.operator, two, through: i + 2)
                } else if c == "!" {
                    throw WorkflowQuery.error(text, at: i, "`!`: write != for not equal, or NOT before a comparison", term: "!")
                } else {
                    token(.operator, String(c), through: i + 1)
                }
            } else if c == "\"" || c == "'" {
                var value = ""
                var j = i + 1
                var closed = false
                while j < chars.count {
                    if chars[j] == "\\", j + 1 < chars.count {
                        value.append(chars[j + 1])
                        j += 2
                        continue
                    }
                    if chars[j] == c {
                        closed = true
                        break
                    }
                    value.append(chars[j])
                    j += 1
                }
                guard closed else {
                    throw WorkflowQuery.error(text, at: i, "this quote is not closed", term: String(chars[i...]))
                }
                token(.string, value, through: j + 1)
            } else if c.isNumber || ((c == "-" || c == "+") && i + 1 < chars.count && chars[i + 1].isNumber) {
                var j = i + 1
                while j < chars.count, chars[j].isNumber || ".eE".contains(chars[j])
                    || ((chars[j] == "-" || chars[j] == "+") && "eE".contains(chars[j - 1]))
                {
                    j += 1
                }
                token(.number, String(chars[i..<j]), through: j)
            } else if c.isLetter || c == "_" {
                var j = i + 1
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                token(.word, String(chars[i..<j]), through: j)
            } else {
                throw WorkflowQuery.error(text, at: i, "`\(c)` is not part of the query language (text goes in quotes)", term: String(c))
            }
        }
        return out
    }
}
