/// RFC 3986 URI / RFC 3987 IRI syntax checks and RFC 6570 URI Template syntax.
enum URIFormat {
    static func unreserved(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || "-._~".unicodeScalars.contains(c))
    }

    static func subDelim(_ c: Unicode.Scalar) -> Bool { "!$&'()*+,;=".unicodeScalars.contains(c) }

    /// RFC 3987 `ucschar` (and `iprivate` where allowed).
    static func ucschar(_ c: Unicode.Scalar, privateToo: Bool) -> Bool {
        let v = c.value
        if (0xA0...0xD7FF).contains(v) || (0xF900...0xFDCF).contains(v) || (0xFDF0...0xFFEF).contains(v) { return true }
        if v >= 0x10000 && v & 0xFFFF < 0xFFFE && v < 0xF0000 { return true }
        if privateToo && ((0xE000...0xF8FF).contains(v) || (v >= 0xF0000 && v & 0xFFFF < 0xFFFE)) { return true }
        return false
    }

    /// Checks every character of `part` is allowed (pct-encodings well formed).
    static func chars(_ part: Substring, extra: String, international: Bool, privateToo: Bool = false) -> Bool {
        let s = Array(part.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "%" {
                guard i + 2 < s.count, s[i + 1].isASCII, s[i + 2].isASCII,
                    URIReference.hexValue(UInt8(s[i + 1].value)) != nil,
                    URIReference.hexValue(UInt8(s[i + 2].value)) != nil
                else { return false }
                i += 3
                continue
            }
            if !(unreserved(c) || subDelim(c) || extra.unicodeScalars.contains(c)
                || (international && ucschar(c, privateToo: privateToo)))
            {
                return false
            }
            i += 1
        }
        return true
    }

    static func check(_ text: String, absolute: Bool, international: Bool) -> Bool {
        var rest = Substring(text)
        if let hash = rest.firstIndex(of: "#") {
            guard chars(rest[rest.index(after: hash)...], extra: ":@/?", international: international) else {
                return false
            }
            rest = rest[..<hash]
        }
        if let q = rest.firstIndex(of: "?") {
            guard chars(rest[rest.index(after: q)...], extra: ":@/?", international: international, privateToo: true)
            else { return false }
            rest = rest[..<q]
        }
        var hasScheme = false
        if let colon = rest.firstIndex(of: ":"), !rest[..<colon].contains("/") {
            let scheme = rest[..<colon]
            guard let first = scheme.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic,
                scheme.unicodeScalars.allSatisfy({
                    $0.isASCII
                        && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0))
                })
            else { return false }
            hasScheme = true
            rest = rest[rest.index(after: colon)...]
        }
        if absolute && !hasScheme { return false }
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            guard authority(rest[..<end], international: international) else { return false }
            rest = rest[end...]
        } else if !hasScheme, let firstSegmentEnd = rest.firstIndex(of: "/") ?? Optional(rest.endIndex),
            rest[..<firstSegmentEnd].contains(":")
        {
            return false  // path-noscheme: a relative reference's first segment has no ":"
        }
        return chars(rest, extra: ":@/", international: international)
    }

    static func authority(_ a: Substring, international: Bool) -> Bool {
        var host = a
        if let at = a.lastIndex(of: "@") {
            guard chars(a[..<at], extra: ":", international: international) else { return false }
            host = a[a.index(after: at)...]
        }
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let literal = host[host.index(after: host.startIndex)..<close]
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), after.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    return false
                }
            }
            if literal.hasPrefix("v") || literal.hasPrefix("V") { return literal.contains(".") }
            return Formats.ipv6(Array(literal.utf8)[...])
        }
        if let colon = host.lastIndex(of: ":") {
            guard host[host.index(after: colon)...].allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            host = host[..<colon]
        }
        return chars(host, extra: "", international: international)
    }

    /// RFC 6570 level 4 syntax.
    static func template(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "{" {
                guard let close = s[i...].firstIndex(of: "}") else { return false }
                guard expression(Array(s[(i + 1)..<close])) else { return false }
                i = close + 1
                continue
            }
            if c == "}" || c.value <= 0x20 || "\"<>\\^`|".unicodeScalars.contains(c) || c.value == 0x7F { return false }
            if c == "%" {
                guard i + 2 < s.count, URIReference.hexValue(UInt8(truncatingIfNeeded: s[i + 1].value)) != nil,
                    URIReference.hexValue(UInt8(truncatingIfNeeded: s[i + 2].value)) != nil
                else { return false }
                i += 3
                continue
            }
            i += 1
        }
        return true
    }

    static func expression(_ e: [Unicode.Scalar]) -> Bool {
        var body = e[...]
        if let op = body.first, "+#./;?&".unicodeScalars.contains(op) { body = body.dropFirst() }
        guard !body.isEmpty else { return false }
        for spec in body.split(separator: ",", omittingEmptySubsequences: false) {
            var name = spec[...]
            if name.last == "*" {
                name = name.dropLast()
            } else if let colon = name.firstIndex(of: ":") {
                let digits = name[(colon + 1)...]
                guard (1...4).contains(digits.count), digits.first != "0",
                    digits.allSatisfy({ ("0"..."9").contains($0) })
                else { return false }
                name = name[..<colon]
            }
            guard !name.isEmpty, name.first != ".", name.last != "." else { return false }
            var previousDot = false
            var k = name.startIndex
            while k < name.endIndex {
                let c = name[k]
                if c == "." {
                    if previousDot { return false }
                    previousDot = true
                    k += 1
                    continue
                }
                previousDot = false
                if c == "%" {
                    guard k + 2 < name.endIndex + 1, k + 2 <= name.endIndex - 1 || k + 2 == name.endIndex - 1,
                        URIReference.hexValue(UInt8(truncatingIfNeeded: name[k + 1].value)) != nil,
                        URIReference.hexValue(UInt8(truncatingIfNeeded: name[k + 2].value)) != nil
                    else { return false }
                    k += 3
                    continue
                }
                guard c.isASCII, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" else { return false }
                k += 1
            }
        }
        return true
    }
}
