/// A `pattern`/`patternProperties` regular expression with ECMA-262 semantics, compiled once.
///
/// JSON Schema says patterns are ECMA-262 regular expressions; Swift's `Regex` differs in a few
/// places that the official suite checks, so the pattern is rewritten first:
/// - `\d`, `\w`, `\b` are ASCII-only (Regex options `asciiOnlyDigits`/`asciiOnlyWordCharacters`);
/// - `\s`/`\S` use ECMA's WhiteSpace + LineTerminator set (it includes U+FEFF, excludes U+0085);
/// - `.` excludes only `\n`, `\r`, U+2028, U+2029; `$` matches only at the very end;
/// - `\cX`, `\0`, `\xHH`, `\uHHHH` (surrogate pairs joined) become `\u{…}`;
/// - matching is per Unicode scalar (the `u` flag), not per grapheme cluster;
/// - an identity escape of a letter (`\a`, `\e`) is a syntax error, as with the `u` flag.
/// Lookbehind is rejected (Swift's `Regex` does not support it yet): the schema does not compile.
///
/// Matching runs in linear time (``RegexProgram``, an automaton) for every pattern without
/// backreferences and lookahead whose counted repetitions expand to at most
/// ``SchemaLimits/maximumPatternProgramSize`` instructions. The others run on Swift's
/// backtracking `Regex`, which can take exponential time: ``linearTimeRefusal`` says why, and
/// ``ValidatorOptions/requireLinearPatterns`` refuses such schemas.
///
/// `@unchecked Sendable`: `Regex` is an immutable value; each match allocates its own state.
final class ECMARegex: @unchecked Sendable {
    let source: String
    /// The backtracking engine, only for patterns the automaton cannot run.
    private let regex: Regex<AnyRegexOutput>?
    /// The linear-time matcher, when the pattern allows it.
    private let program: RegexProgram?
    /// Why the pattern cannot run in linear time (nil when it can).
    let linearTimeRefusal: String?
    /// Fast path for `^literal` / `literal` / `literal$` patterns without metacharacters.
    private let literal: (text: String, anchoredStart: Bool, anchoredEnd: Bool)?

    struct SyntaxError: Error, CustomStringConvertible {
        var description: String
    }

    /// - Throws: ``SyntaxError`` when `pattern` is not a valid ECMA-262 pattern or uses lookbehind.
    init(_ pattern: String) throws(SyntaxError) {
        source = pattern
        if !Self.nestingIsBounded(pattern) {
            throw SyntaxError(
                description: "the pattern nests groups or classes deeper than \(RegexParser.maximumNesting) levels")
        }
        // Validity is Swift's `Regex` on the translated pattern, for every pattern alike.
        let translated = try Self.translate(pattern)
        let backtracking: Regex<AnyRegexOutput>
        do {
            backtracking = try Regex(translated)
                .matchingSemantics(.unicodeScalar)
                .asciiOnlyDigits()
                .asciiOnlyWordCharacters()
        } catch {
            throw SyntaxError(description: "invalid regular expression \(pattern): \(error)")
        }
        literal = Self.literalForm(pattern)
        do {
            program = try RegexProgram(try RegexParser.parse(pattern))
            regex = nil
            linearTimeRefusal = nil
        } catch let error as RegexParser.Unsupported {
            program = nil
            regex = backtracking
            linearTimeRefusal =
                error.needsBacktracking
                ? "it uses a \(error.description), which needs backtracking"
                : "the linear-time matcher does not accept its syntax (\(error.description))"
        } catch {
            program = nil
            regex = backtracking
            linearTimeRefusal =
                "its counted repetitions expand past \(SchemaLimits.maximumPatternProgramSize) automaton states"
        }
    }

    /// False when unescaped `(` or `[` nest deeper than ``RegexParser/maximumNesting``: Swift's
    /// `Regex` parser recurses over them.
    private static func nestingIsBounded(_ pattern: String) -> Bool {
        var depth = 0
        var escaped = false
        for c in pattern.unicodeScalars {
            if escaped {
                escaped = false
                continue
            }
            switch c {
            case "\\": escaped = true
            case "(", "[":
                depth += 1
                if depth > RegexParser.maximumNesting { return false }
            case ")", "]": depth = max(0, depth - 1)
            default: break
            }
        }
        return true
    }

    /// True when the pattern matches somewhere in `text` (patterns are not implicitly anchored).
    func matches(_ text: String) -> Bool {
        if let literal {
            // Code-unit comparison: String's == would apply canonical equivalence, ECMA-262 does not.
            if literal.anchoredStart && literal.anchoredEnd { return text.utf8.elementsEqual(literal.text.utf8) }
            if literal.anchoredStart { return text.utf8.starts(with: literal.text.utf8) }
            if literal.anchoredEnd { return text.utf8.reversed().starts(with: literal.text.utf8.reversed()) }
            if literal.text.isEmpty { return true }
        }
        if let program { return program.matches(text) }
        return matchesWithRegex(text)
    }

    /// The `Regex` fallback, kept out of line: inlined into `Evaluation.evaluate` (through
    /// additionalProperties and patternProperties), its resilient `Regex.Match` type made every
    /// call of `evaluate` look up type metadata and size a stack buffer (issue 15).
    @inline(never)
    private func matchesWithRegex(_ text: String) -> Bool {
        (try? regex?.firstMatch(in: text)) != nil
    }

    /// True when `pattern` compiles as an ECMA-262 regular expression (the `regex` format).
    /// Lookbehind is valid ECMA-262 (ES2018) even though it cannot run here, so it is checked
    /// as the equivalent lookahead.
    static func isValid(_ pattern: String) -> Bool {
        let syntax = pattern.replacingAll("(?<=", with: "(?=").replacingAll("(?<!", with: "(?!")
        return (try? ECMARegex(syntax)) != nil
    }

    private static func literalForm(_ p: String) -> (String, Bool, Bool)? {
        var body = Substring(p)
        let start = body.hasPrefix("^")
        if start { body = body.dropFirst() }
        let end = body.hasSuffix("$") && !body.hasSuffix("\\$")
        if end { body = body.dropLast() }
        let meta: Set<Character> = ["\\", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "^", "$"]
        if body.contains(where: { meta.contains($0) }) { return nil }
        return (String(body), start, end)
    }

    // ECMA-262 WhiteSpace and LineTerminator code points. U+2000…U+200A are listed one by one:
    // Swift's Regex rejects them as range bounds ("invalid bound for character class range").
    private static let whitespace =
        ([0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF]
        + Array(0x2000...0x200A))
        .map { "\\u{" + String($0, radix: 16) + "}" }.joined()

    static func translate(_ pattern: String) throws(SyntaxError) -> String {
        let s = Array(pattern.unicodeScalars)
        var out = ""
        var i = 0
        var inClass = false
        func hex(_ v: UInt32) -> String { "\\u{" + String(v, radix: 16) + "}" }
        func readHex(_ from: Int, _ count: Int) -> UInt32? {
            guard from + count <= s.count else { return nil }
            var v: UInt32 = 0
            for k in from..<(from + count) {
                guard let d = URIReference.hexValue(UInt8(truncatingIfNeeded: s[k].value)), s[k].isASCII else {
                    return nil
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < s.count {
            let c = s[i]
            if c == "\\" {
                guard i + 1 < s.count else { throw SyntaxError(description: "\\ at end of pattern") }
                let n = s[i + 1]
                i += 2
                switch n {
                case "d", "D", "w", "W", "B", "k":
                    out += "\\" + String(n)
                case "b":
                    out += inClass ? hex(8) : "\\b"
                case "s":
                    out += inClass ? whitespace : "[" + whitespace + "]"
                case "S":
                    out += "[^" + whitespace + "]"
                case "t": out += hex(9)
                case "n": out += hex(10)
                case "v": out += hex(11)
                case "f": out += hex(12)
                case "r": out += hex(13)
                case "c":
                    guard i < s.count, s[i].isASCII, s[i].properties.isAlphabetic else {
                        throw SyntaxError(description: "invalid \\c escape")
                    }
                    out += hex(s[i].value & 31)
                    i += 1
                case "0" where i >= s.count || !("0"..."9").contains(s[i]):
                    out += hex(0)
                case "1"..."9":
                    out += "\\" + String(n)
                    while i < s.count, ("0"..."9").contains(s[i]) {
                        out.unicodeScalars.append(s[i])
                        i += 1
                    }
                case "x":
                    guard let v = readHex(i, 2) else { throw SyntaxError(description: "invalid \\x escape") }
                    out += hex(v)
                    i += 2
                case "u":
                    if i < s.count, s[i] == "{" {
                        guard let close = s[i...].firstIndex(of: "}") else {
                            throw SyntaxError(description: "invalid \\u{")
                        }
                        var v: UInt32 = 0
                        for k in (i + 1)..<close {
                            guard let d = URIReference.hexValue(UInt8(truncatingIfNeeded: s[k].value)) else {
                                throw SyntaxError(description: "invalid \\u{ escape")
                            }
                            v = v << 4 | UInt32(d)
                        }
                        out += hex(v)
                        i = close + 1
                    } else {
                        guard var v = readHex(i, 4) else { throw SyntaxError(description: "invalid \\u escape") }
                        i += 4
                        if (0xD800..<0xDC00).contains(v), i + 5 < s.count + 0, s[i] == "\\", s[i + 1] == "u",
                            let low = readHex(i + 2, 4), (0xDC00..<0xE000).contains(low)
                        {
                            v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                        }
                        out += hex(v)
                    }
                case "p", "P":
                    guard i < s.count, s[i] == "{", let close = s[i...].firstIndex(of: "}") else {
                        throw SyntaxError(description: "invalid \\p escape")
                    }
                    out += "\\" + String(n)
                    for k in i...close { out.unicodeScalars.append(s[k]) }
                    i = close + 1
                default:
                    if n.properties.isAlphabetic || ("0"..."9").contains(n) {
                        throw SyntaxError(description: "invalid escape \\\(n)")
                    }
                    out += hex(n.value)
                }
                continue
            }
            i += 1
            if inClass {
                switch c {
                case "]":
                    inClass = false
                    out += "]"
                case "[", "&", "~": out += hex(c.value)
                default: out.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "[":
                if i < s.count, s[i] == "]" {
                    out += "(?!)"
                    i += 1
                    continue
                }
                if i + 1 < s.count, s[i] == "^", s[i + 1] == "]" {
                    out += "[\\s\\S]"
                    i += 2
                    continue
                }
                inClass = true
                out += "["
                if i < s.count, s[i] == "^" {
                    out += "^"
                    i += 1
                }
            case ".": out += "[^\\n\\r\\u{2028}\\u{2029}]"
            case "$": out += "\\z"
            case "(":
                if i + 2 < s.count, s[i] == "?", s[i + 1] == "<", s[i + 2] == "=" || s[i + 2] == "!" {
                    throw SyntaxError(description: "lookbehind is not supported")
                }
                // ECMA-262 groups: (?:…), (?=…), (?!…), (?<name>…); not Python/PCRE (?P…), (?#…), (?i).
                if i < s.count, s[i] == "?" {
                    guard i + 1 < s.count, s[i + 1] == ":" || s[i + 1] == "=" || s[i + 1] == "!" || s[i + 1] == "<"
                    else {
                        throw SyntaxError(
                            description: "unsupported group syntax (?\(i + 1 < s.count ? String(s[i + 1]) : "")")
                    }
                }
                out += "("
            default: out.unicodeScalars.append(c)
            }
        }
        if inClass { throw SyntaxError(description: "unterminated character class") }
        return out
    }
}
