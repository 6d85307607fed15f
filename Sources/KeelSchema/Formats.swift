/// The `format` checks, used when formats are asserted (``ValidatorOptions/assertFormat`` or the
/// 2020-12 format-assertion vocabulary). All work on code points or bytes, never Foundation.
///
/// Sources: RFC 3339 (date, time, date-time, duration in its appendix A), RFC 5321/6531 (email,
/// idn-email), RFC 1123/5890 (hostname, idn-hostname: best effort, no IDNA tables), RFC 2673 and
/// 4291 (ipv4, ipv6), RFC 3986/3987 (uri, iri and their references), RFC 6570 (uri-template),
/// RFC 4122 (uuid), RFC 6901 and the relative JSON Pointer draft, ECMA-262 (regex).
enum Formats {
    static let table: [String: @Sendable (String) -> Bool] = [
        "date": { date(Array($0.utf8)[...]) },
        "time": { time(Array($0.utf8)[...]) },
        "date-time": dateTime,
        "duration": duration,
        "email": { email($0, international: false) },
        "idn-email": { email($0, international: true) },
        "hostname": { hostname($0, international: false) },
        "idn-hostname": { hostname($0, international: true) },
        "ipv4": { ipv4(Array($0.utf8)[...]) },
        "ipv6": { ipv6(Array($0.utf8)[...]) },
        "uri": { URIFormat.check($0, absolute: true, international: false) },
        "uri-reference": { URIFormat.check($0, absolute: false, international: false) },
        "iri": { URIFormat.check($0, absolute: true, international: true) },
        "iri-reference": { URIFormat.check($0, absolute: false, international: true) },
        "uri-template": URIFormat.template,
        "uuid": uuid,
        "regex": { ECMARegex.isValid($0) },
        "json-pointer": jsonPointer,
        "relative-json-pointer": relativeJSONPointer,
    ]

    static func digit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    static func number(_ s: ArraySlice<UInt8>) -> Int? {
        guard !s.isEmpty, s.allSatisfy(digit) else { return nil }
        return s.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    // MARK: RFC 3339

    static func date(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.count == 10, s[s.startIndex + 4] == UInt8(ascii: "-"), s[s.startIndex + 7] == UInt8(ascii: "-"),
            let y = number(s.prefix(4)), let m = number(s.dropFirst(5).prefix(2)), let d = number(s.suffix(2))
        else { return false }
        guard (1...12).contains(m), d >= 1 else { return false }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return d <= days
    }

    static func time(_ s: ArraySlice<UInt8>) -> Bool {
        let b = Array(s)
        guard b.count >= 9, b[2] == UInt8(ascii: ":"), b[5] == UInt8(ascii: ":"),
            let h = number(b[0..<2]), let m = number(b[3..<5]), let sec = number(b[6..<8])
        else { return false }
        var i = 8
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, digit(b[i]) { i += 1 }
            if i == start { return false }
        }
        guard i < b.count else { return false }
        var offsetMinutes = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard i + 1 == b.count else { return false }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard b.count - i == 6, b[i + 3] == UInt8(ascii: ":"), let oh = number(b[(i + 1)..<(i + 3)]),
                let om = number(b[(i + 4)..<(i + 6)]), oh <= 23, om <= 59
            else { return false }
            offsetMinutes = (oh * 60 + om) * (b[i] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return false
        }
        guard h <= 23, m <= 59, sec <= 60 else { return false }
        if sec == 60 {
            // A leap second is only valid at 23:59:60 UTC.
            let utc = ((h * 60 + m - offsetMinutes) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }

    static func dateTime(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count > 11, b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") else { return false }
        return date(b[0..<10]) && time(b[11...])
    }

    /// RFC 3339 appendix A: `P…Y…M…D` / `T…H…M…S` in order, or `P…W` alone.
    static func duration(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count >= 3, b[0] == UInt8(ascii: "P") else { return false }
        var i = 1
        func units(_ allowed: [UInt8]) -> (count: Int, ok: Bool) {
            var next = 0
            var count = 0
            while i < b.count, digit(b[i]) {
                let start = i
                while i < b.count, digit(b[i]) { i += 1 }
                guard i > start, i < b.count, let u = allowed[next...].firstIndex(of: b[i]) else {
                    return (count, false)
                }
                // RFC 3339 ABNF: units are consecutive (Y then M then D; H then M then S).
                if count > 0 && u != next { return (count, false) }
                next = u + 1
                count += 1
                i += 1
            }
            return (count, true)
        }
        if b.last == UInt8(ascii: "W") {
            return b.count > 2 && b[1..<(b.count - 1)].allSatisfy(digit)
        }
        let date = units(Array("YMD".utf8))
        guard date.ok else { return false }
        if i == b.count { return date.count > 0 }
        guard b[i] == UInt8(ascii: "T") else { return false }
        i += 1
        let time = units(Array("HMS".utf8))
        return time.ok && time.count > 0 && i == b.count
    }

    // MARK: Internet names and addresses

    static func ipv4(_ s: ArraySlice<UInt8>) -> Bool {
        let parts = s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for p in parts {
            guard (1...3).contains(p.count), let v = number(p), v <= 255 else { return false }
            if p.count > 1 && p.first == UInt8(ascii: "0") { return false }
        }
        return true
    }

    static func ipv6(_ s: ArraySlice<UInt8>) -> Bool {
        var text = String(decoding: s, as: UTF8.self)
        guard !text.isEmpty, text.utf8.count <= 45,
            text.unicodeScalars.allSatisfy({
                $0 == ":" || $0 == "." || ($0.isASCII && URIReference.hexValue(UInt8($0.value)) != nil)
            })
        else { return false }
        if let lastColon = text.lastIndex(of: ":"), text[lastColon...].contains(".") {
            guard ipv4(Array(text[text.index(after: lastColon)...].utf8)[...]) else { return false }
            text = String(text[...lastColon]) + "0:0"  // the IPv4 part counts as two groups
        } else if text.contains(".") {
            return false
        }
        if text.contains(":::") { return false }
        func hexGroups(_ part: Substring) -> Int? {
            if part.isEmpty { return 0 }
            let groups = part.split(separator: ":", omittingEmptySubsequences: false)
            for g in groups where g.isEmpty || g.count > 4 { return nil }
            return groups.count
        }
        if let range = text.firstRange(of: "::") {
            let left = text[..<range.lowerBound]
            let right = text[range.upperBound...]
            if right.contains("::") { return false }
            guard let l = hexGroups(left), let r = hexGroups(right) else { return false }
            return l + r <= 7
        }
        return hexGroups(Substring(text)) == 8
    }

    static func hostname(_ text: String, international: Bool) -> Bool {
        var host = text
        if international {
            // IDNA label separators (RFC 3490 §3.1): ideographic and full-width full stops.
            for sep in ["\u{3002}", "\u{FF0E}", "\u{FF61}"] { host = host.replacingAll(sep, with: ".") }
        }
        guard !host.isEmpty, host.unicodeScalars.count <= 253 else { return false }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            let scalars = Array(label.unicodeScalars)
            guard !scalars.isEmpty, scalars.count <= 63, scalars.first != "-", scalars.last != "-" else { return false }
            let lower = label.lowercased()
            if scalars.count >= 4, scalars[2] == "-", scalars[3] == "-" {
                // "--" in positions 3–4 is reserved for A-labels (RFC 5891 §4.2.3.1).
                guard lower.hasPrefix("xn--"), let decoded = Punycode.decode(String(lower.dropFirst(4))) else {
                    return false
                }
                // An A-label must decode to a valid U-label.
                let u = Array(decoded.unicodeScalars)
                guard !u.isEmpty, u.allSatisfy({ $0.isASCII || IDNA.allowed($0) }), IDNA.contextOK(u) else {
                    return false
                }
            }
            for c in scalars {
                if c.isASCII {
                    guard c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" else { return false }
                } else {
                    guard international, IDNA.allowed(c) else { return false }
                }
            }
            if international && !IDNA.contextOK(scalars) { return false }
        }
        return true
    }

    static func email(_ text: String, international: Bool) -> Bool {
        guard let at = text.lastIndex(of: "@") else { return false }
        let local = text[..<at]
        let domain = text[text.index(after: at)...]
        guard !local.isEmpty, !domain.isEmpty else { return false }
        if local.hasPrefix("\"") {
            guard local.count >= 2, local.hasSuffix("\"") else { return false }
            var escaped = false
            for c in local.unicodeScalars.dropFirst().dropLast() {
                if escaped {
                    escaped = false
                    continue
                }
                if c == "\\" {
                    escaped = true
                    continue
                }
                if c == "\"" || c.value < 0x20 || c.value == 0x7F { return false }
                if !c.isASCII && !international { return false }
            }
            if escaped { return false }
        } else {
            guard local.first != ".", local.last != ".", !local.contains("..") else { return false }
            let specials = Set("!#$%&'*+-/=?^_`{|}~.".unicodeScalars)
            for c in local.unicodeScalars {
                if c.isASCII {
                    guard c.properties.isAlphabetic || ("0"..."9").contains(c) || specials.contains(c) else {
                        return false
                    }
                } else if !international {
                    return false
                }
            }
        }
        if domain.hasPrefix("[") {
            guard domain.hasSuffix("]") else { return false }
            let literal = domain.dropFirst().dropLast()
            if literal.lowercased().hasPrefix("ipv6:") { return ipv6(Array(literal.utf8.dropFirst(5))[...]) }
            return ipv4(Array(literal.utf8)[...])
        }
        return hostname(String(domain), international: international)
    }

    // MARK: Identifiers and pointers

    static func uuid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return false }
            } else if URIReference.hexValue(c) == nil {
                return false
            }
        }
        return true
    }

    static func jsonPointer(_ text: String) -> Bool {
        if text.isEmpty { return true }
        guard text.hasPrefix("/") else { return false }
        return escapesValid(text)
    }

    static func escapesValid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        for (i, c) in b.enumerated() where c == UInt8(ascii: "~") {
            guard i + 1 < b.count, b[i + 1] == UInt8(ascii: "0") || b[i + 1] == UInt8(ascii: "1") else { return false }
        }
        return true
    }

    static func relativeJSONPointer(_ text: String) -> Bool {
        let b = Array(text.utf8)
        var i = 0
        while i < b.count, digit(b[i]) { i += 1 }
        guard i > 0, !(i > 1 && b[0] == UInt8(ascii: "0")) else { return false }
        // Index manipulation (draft-bhutton-relative-json-pointer-00): +N / -N after the prefix.
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let start = i + 1
            var j = start
            while j < b.count, digit(b[j]) { j += 1 }
            guard j > start, !(j - start > 1 && b[start] == UInt8(ascii: "0")) else { return false }
            if b[i] == UInt8(ascii: "-") && j - start == 1 && b[start] == UInt8(ascii: "0") { return false }
            i = j
        }
        if i == b.count { return true }
        if b[i] == UInt8(ascii: "#") { return i + 1 == b.count }
        return jsonPointer(String(decoding: b[i...], as: UTF8.self))
    }
}
