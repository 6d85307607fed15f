/// Parses an ECMA-262 pattern (`u` semantics) into a ``RegexNode`` for the linear-time matcher.
///
/// It accepts what ``ECMARegex/translate(_:)`` accepts, minus what an automaton cannot run:
/// backreferences (`\1`, `\k<name>`) and lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`). Anything it
/// does not handle throws ``Unsupported`` with the reason; the caller then decides (the
/// backtracking engine, or a refusal). Validity itself is decided by the caller beforehand.
struct RegexParser {
    struct Unsupported: Error, CustomStringConvertible {
        var description: String
        /// True for backreferences and lookaround: valid, but beyond any automaton.
        var needsBacktracking: Bool { description == "backreference" || description == "lookaround" }
    }

    /// Groups and classes nested deeper than this are not parsed (recursion stays bounded).
    static let maximumNesting = 256

    private let s: [Unicode.Scalar]
    private var i = 0
    private var nesting = 0

    static func parse(_ pattern: String) throws(Unsupported) -> RegexNode {
        var parser = RegexParser(s: Array(pattern.unicodeScalars))
        let node = try parser.disjunction()
        guard parser.i == parser.s.count else { throw Unsupported(description: "unbalanced )") }
        return node
    }

    private init(s: [Unicode.Scalar]) { self.s = s }

    private var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }
    private func peek(_ offset: Int) -> Unicode.Scalar? { i + offset < s.count ? s[i + offset] : nil }

    private mutating func disjunction() throws(Unsupported) -> RegexNode {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= Self.maximumNesting else {
            throw Unsupported(description: "groups nested deeper than \(Self.maximumNesting)")
        }
        var alternatives = [try alternative()]
        while peek == "|" {
            i += 1
            alternatives.append(try alternative())
        }
        return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
    }

    private mutating func alternative() throws(Unsupported) -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek, c != "|", c != ")" { items.append(try term()) }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func term() throws(Unsupported) -> RegexNode {
        switch peek {
        case "^":
            i += 1
            return .assertion(.start)
        case "$":
            i += 1
            return .assertion(.end)
        case "\\" where peek(1) == "b":
            i += 2
            return .assertion(.wordBoundary)
        case "\\" where peek(1) == "B":
            i += 2
            return .assertion(.notWordBoundary)
        default:
            return try quantified(try atom())
        }
    }

    private mutating func atom() throws(Unsupported) -> RegexNode {
        guard let c = peek else { throw Unsupported(description: "unexpected end") }
        i += 1
        switch c {
        case ".": return .set(ScalarSet.dot)
        case "[": return try characterClass()
        case "\\": return try atomEscape()
        case "(":
            if peek == "?" {
                switch peek(1) {
                case ":": i += 2
                case "<" where peek(2) != "=" && peek(2) != "!":
                    guard let close = s[i...].firstIndex(of: ">") else { throw Unsupported(description: "group name") }
                    i = close + 1
                default: throw Unsupported(description: "lookaround")
                }
            }
            let inner = try disjunction()
            guard peek == ")" else { throw Unsupported(description: "unterminated group") }
            i += 1
            return inner
        case "*", "+", "?", "{", "}", "]", ")", "|":
            throw Unsupported(description: "unexpected \(c)")
        default:
            return .scalar(c.value)
        }
    }

    private mutating func quantified(_ atom: RegexNode) throws(Unsupported) -> RegexNode {
        let bounds: (Int, Int?)
        switch peek {
        case "*": bounds = (0, nil)
        case "+": bounds = (1, nil)
        case "?": bounds = (0, 1)
        case "{":
            i += 1
            let low = try number()
            var high: Int? = low
            if peek == "," {
                i += 1
                high = peek == "}" ? nil : try number()
            }
            guard peek == "}" else { throw Unsupported(description: "invalid quantifier") }
            if let high, high < low { throw Unsupported(description: "quantifier range out of order") }
            bounds = (low, high)
        default: return atom
        }
        i += 1
        if peek == "?" { i += 1 }  // lazy: the same language
        return .repetition(atom, min: bounds.0, max: bounds.1)
    }

    /// Decimal digits, saturating (any count past the program size limit is equally too large).
    private mutating func number() throws(Unsupported) -> Int {
        var value = 0
        var digits = 0
        while let c = peek, ("0"..."9").contains(c) {
            value = min(value * 10 + Int(c.value - 48), 1_000_000_000)
            digits += 1
            i += 1
        }
        guard digits > 0 else { throw Unsupported(description: "invalid quantifier") }
        return value
    }

    /// One class member: a scalar, or a set (`\d`, `\p{…}`, …).
    private enum Member {
        case scalar(UInt32)
        case ranges([ClosedRange<UInt32>])
        case property(String)
    }

    private mutating func characterClass() throws(Unsupported) -> RegexNode {
        var negated = false
        if peek == "^" {
            negated = true
            i += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var properties: [String] = []
        func add(_ m: Member) {
            switch m {
            case .scalar(let v): ranges.append(v...v)
            case .ranges(let r): ranges += r
            case .property(let text): properties.append(text)
            }
        }
        while true {
            guard let c = peek else { throw Unsupported(description: "unterminated class") }
            if c == "]" {
                i += 1
                break
            }
            let first = try classMember()
            if peek == "-", let next = peek(1), next != "]" {
                i += 1
                let second = try classMember()
                guard case .scalar(let lo) = first, case .scalar(let hi) = second, lo <= hi else {
                    throw Unsupported(description: "invalid class range")
                }
                ranges.append(lo...hi)
            } else {
                add(first)
            }
        }
        var property: Regex<Substring>?
        if !properties.isEmpty {
            do {
                property = try Regex("[" + properties.joined() + "]", as: Substring.self).matchingSemantics(.unicodeScalar)
            } catch {
                throw Unsupported(description: "unicode property")
            }
        }
        return .set(ScalarSet(ranges, property: property, negated: negated))
    }

    private mutating func classMember() throws(Unsupported) -> Member {
        guard let c = peek else { throw Unsupported(description: "unterminated class") }
        i += 1
        guard c == "\\" else { return .scalar(c.value) }
        guard let e = peek else { throw Unsupported(description: "\\ at end") }
        switch e {
        case "b":
            i += 1
            return .scalar(8)
        case "-":
            i += 1
            return .scalar(0x2D)
        default:
            return try escape(inClass: true)
        }
    }

    private mutating func atomEscape() throws(Unsupported) -> RegexNode {
        switch try escape(inClass: false) {
        case .scalar(let v): return .scalar(v)
        case .ranges(let r): return .set(ScalarSet(r))
        case .property(let text):
            do {
                return .set(
                    ScalarSet([], property: try Regex("[" + text + "]", as: Substring.self).matchingSemantics(.unicodeScalar)))
            } catch {
                throw Unsupported(description: "unicode property")
            }
        }
    }

    /// The escape after a `\` (already consumed), except `\b`/`\B` outside classes.
    private mutating func escape(inClass: Bool) throws(Unsupported) -> Member {
        guard let e = peek else { throw Unsupported(description: "\\ at end") }
        i += 1
        switch e {
        case "d": return .ranges(ScalarSet.digit)
        case "D": return .ranges(ScalarSet.complement(ScalarSet.digit))
        case "w": return .ranges(ScalarSet.word)
        case "W": return .ranges(ScalarSet.complement(ScalarSet.word))
        case "s": return .ranges(ScalarSet.space)
        case "S": return .ranges(ScalarSet.complement(ScalarSet.space))
        case "t": return .scalar(9)
        case "n": return .scalar(10)
        case "v": return .scalar(11)
        case "f": return .scalar(12)
        case "r": return .scalar(13)
        case "c":
            guard let l = peek, l.isASCII, l.properties.isAlphabetic else { throw Unsupported(description: "\\c") }
            i += 1
            return .scalar(l.value & 31)
        case "0" where !(peek.map { ("0"..."9").contains($0) } ?? false):
            return .scalar(0)
        case "x":
            guard let v = hex(count: 2) else { throw Unsupported(description: "\\x") }
            return .scalar(v)
        case "u":
            if peek == "{" {
                guard let close = s[i...].firstIndex(of: "}"), close > i + 1, close - i <= 7 else {
                    throw Unsupported(description: "\\u{")
                }
                i += 1
                guard let v = hex(count: close - i), v <= 0x10FFFF else { throw Unsupported(description: "\\u{") }
                i = close + 1
                return .scalar(v)
            }
            guard var v = hex(count: 4) else { throw Unsupported(description: "\\u") }
            if (0xD800..<0xDC00).contains(v), peek == "\\", peek(1) == "u" {
                let save = i
                i += 2
                if let low = hex(count: 4), (0xDC00..<0xE000).contains(low) {
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    i = save
                }
            }
            return .scalar(v)
        case "p", "P":
            guard peek == "{", let close = s[i...].firstIndex(of: "}") else { throw Unsupported(description: "\\p") }
            var text = "\\" + String(e)
            for k in i...close { text.unicodeScalars.append(s[k]) }
            i = close + 1
            return .property(text)
        case "1"..."9", "k":
            throw Unsupported(description: "backreference")
        default:
            if e.properties.isAlphabetic || ("0"..."9").contains(e) {
                throw Unsupported(description: "invalid escape \\\(e)")
            }
            return .scalar(e.value)
        }
    }

    /// `count` hex digits at the cursor (consumed only when all are valid).
    private mutating func hex(count: Int) -> UInt32? {
        guard i + count <= s.count else { return nil }
        var v: UInt32 = 0
        for k in i..<(i + count) {
            guard s[k].isASCII, let d = URIReference.hexValue(UInt8(s[k].value)) else { return nil }
            v = v << 4 | UInt32(d)
        }
        i += count
        return v
    }
}
