/// Strings a `pattern` probably matches, for the contract diff's candidate instances: a walk of
/// the common ECMA-262 subset (literals, `.`, `\d`/`\w`/`\s`, character classes, groups with
/// alternatives, `*`/`+`/`?`/`{n,m}`), taking the first alternative and the first class member.
/// Unverified: callers keep only the samples the pattern really matches.
enum PatternSampler {
    /// One sample per `extras` entry: each open repetition at its minimum (one for `+`) plus that many.
    static func samples(_ pattern: String, extras: [Int] = [0, 2]) -> [String] {
        extras.compactMap { extra in
            var walker = Walker(pattern: Array(pattern), extra: extra)
            return walker.run()
        }
    }

    private struct Walker {
        let pattern: [Character]
        let extra: Int
        var i = 0

        mutating func run() -> String? {
            guard let s = alternatives(), i == pattern.count else { return nil }
            return s
        }

        /// A sequence up to `)` or the end; the first alternative of a `|`.
        mutating func alternatives() -> String? {
            var out = ""
            var first: String?
            while i < pattern.count && pattern[i] != ")" {
                if pattern[i] == "|" {
                    if first == nil { first = out }
                    out = ""
                    i += 1
                    continue
                }
                guard let unit = atom() else { return nil }
                guard let (low, high) = quantifier() else { return nil }
                let count = min(high, (low == 0 && extra == 0) ? 0 : max(low, 1) + (high > low ? extra : 0))
                out += String(repeating: unit, count: count)
                if out.count > 4096 { return nil }
            }
            return first ?? out
        }

        mutating func atom() -> String? {
            let c = pattern[i]
            i += 1
            switch c {
            case "^", "$": return ""
            case ".": return "a"
            case "\\": return escape(inClass: false)
            case "(":
                if i < pattern.count && pattern[i] == "?" {
                    guard i + 1 < pattern.count, pattern[i + 1] == ":" else { return nil }  // lookaround, named groups
                    i += 2
                }
                guard let inner = alternatives(), i < pattern.count, pattern[i] == ")" else { return nil }
                i += 1
                return inner
            case "[": return characterClass()
            case "*", "+", "?", "{", ")", "|": return nil
            default: return String(c)
            }
        }

        mutating func escape(inClass: Bool) -> String? {
            guard i < pattern.count else { return nil }
            let e = pattern[i]
            i += 1
            switch e {
            case "d": return "0"
            case "w", "S", "D": return "a"
            case "s": return " "
            case "W": return "-"
            case "b", "B": return inClass ? nil : ""
            case "n": return "\n"
            case "t": return "\t"
            case "u", "x", "c", "p", "P", "k": return nil
            default: return e.isLetter || e.isNumber ? nil : String(e)
            }
        }

        mutating func characterClass() -> String? {
            guard i < pattern.count, pattern[i] != "^" else { return nil }  // negated: not sampled
            var first: String?
            while i < pattern.count && pattern[i] != "]" {
                let c = pattern[i]
                i += 1
                let member = c == "\\" ? escape(inClass: true) : String(c)
                guard let member else { return nil }
                if first == nil { first = member }
            }
            guard i < pattern.count, let first else { return nil }
            i += 1
            return first
        }

        /// `(minimum, maximum)` repetitions of the atom just read.
        mutating func quantifier() -> (Int, Int)? {
            guard i < pattern.count else { return (1, 1) }
            var result: (Int, Int)
            switch pattern[i] {
            case "*": result = (0, Int.max); i += 1
            case "+": result = (1, Int.max); i += 1
            case "?": result = (0, 1); i += 1
            case "{":
                guard let close = pattern[i...].firstIndex(of: "}") else { return nil }
                let body = String(pattern[(i + 1)..<close]).split(separator: ",", omittingEmptySubsequences: false)
                guard let low = body.first.flatMap({ Int($0) }), low <= 1000 else { return nil }
                let high = body.count == 1 ? low : (body[1].isEmpty ? Int.max : Int(body[1]) ?? low)
                result = (low, max(low, high))
                i = close + 1
            default: return (1, 1)
            }
            if i < pattern.count && pattern[i] == "?" { i += 1 }  // lazy
            return result
        }
    }
}
