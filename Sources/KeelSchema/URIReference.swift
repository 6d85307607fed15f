/// An RFC 3986 URI reference split into its five components, with reference resolution (§5.2).
///
/// Schema identifiers (`$id`, `$ref`, `$schema`) are URI references; the validator never fetches
/// them, it only resolves and compares them, so this is all the URI support it needs.
struct URIReference: Equatable {
    var scheme: String?
    var authority: String?
    var path: String
    var query: String?
    var fragment: String?

    /// Splits `text` as RFC 3986 Appendix B does; it never fails.
    init(parsing text: String) {
        var rest = Substring(text)
        scheme = nil
        authority = nil
        query = nil
        fragment = nil
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        if let colon = rest.firstIndex(of: ":"), Self.isScheme(rest[..<colon]) {
            scheme = String(rest[..<colon])
            rest = rest[rest.index(after: colon)...]
        }
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            authority = String(rest[..<end])
            rest = rest[end...]
        }
        path = String(rest)
    }

    private static func isScheme(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return false }
        return s.unicodeScalars.allSatisfy { c in
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "+" || c == "-" || c == ".")
        }
    }

    /// The reference written back as text (RFC 3986 §5.3).
    var string: String {
        var out = ""
        if let scheme { out += scheme + ":" }
        if let authority { out += "//" + authority }
        out += path
        if let query { out += "?" + query }
        if let fragment { out += "#" + fragment }
        return out
    }

    /// This reference resolved against an absolute `base` (RFC 3986 §5.2.2, strict).
    func resolved(against base: URIReference) -> URIReference {
        var t = URIReference(parsing: "")
        if let scheme {
            t.scheme = scheme
            t.authority = authority
            t.path = Self.removeDotSegments(path)
            t.query = query
        } else {
            if authority != nil {
                t.authority = authority
                t.path = Self.removeDotSegments(path)
                t.query = query
            } else {
                if path.isEmpty {
                    t.path = base.path
                    t.query = query ?? base.query
                } else {
                    if path.hasPrefix("/") {
                        t.path = Self.removeDotSegments(path)
                    } else {
                        t.path = Self.removeDotSegments(Self.merge(base: base, path: path))
                    }
                    t.query = query
                }
                t.authority = base.authority
            }
            t.scheme = base.scheme
        }
        t.fragment = fragment
        return t
    }

    private static func merge(base: URIReference, path: String) -> String {
        if base.authority != nil && base.path.isEmpty { return "/" + path }
        guard let slash = base.path.lastIndex(of: "/") else { return path }
        return String(base.path[...slash]) + path
    }

    /// RFC 3986 §5.2.4.
    static func removeDotSegments(_ path: String) -> String {
        guard path.contains(".") else { return path }
        var input = Substring(path)
        var output: [Substring] = []
        var result = ""
        while !input.isEmpty {
            if input.hasPrefix("../") {
                input = input.dropFirst(3)
            } else if input.hasPrefix("./") {
                input = input.dropFirst(2)
            } else if input.hasPrefix("/./") {
                input = input.dropFirst(2)
            } else if input == "/." {
                input = "/"
            } else if input.hasPrefix("/../") {
                input = input.dropFirst(3)
                if !output.isEmpty { output.removeLast() }
            } else if input == "/.." {
                input = "/"
                if !output.isEmpty { output.removeLast() }
            } else if input == "." || input == ".." {
                input = ""
            } else {
                var end = input.index(after: input.startIndex)
                if input.first != "/" { end = input.startIndex }
                let next = input[end...].firstIndex(of: "/") ?? input.endIndex
                output.append(input[..<next])
                input = input[next...]
            }
        }
        for segment in output { result += segment }
        return result
    }
}

extension URIReference {
    /// `reference` resolved against `base`, as text. An empty base leaves the reference as written.
    static func resolve(_ reference: String, against base: String) -> String {
        if base.isEmpty { return reference }
        return URIReference(parsing: reference).resolved(against: URIReference(parsing: base)).string
    }

    /// Splits `uri` at its first `#`: the part before and the fragment (nil when there is none).
    static func splitFragment(_ uri: String) -> (base: String, fragment: String?) {
        guard let hash = uri.firstIndex(of: "#") else { return (uri, nil) }
        return (String(uri[..<hash]), String(uri[uri.index(after: hash)...]))
    }

    /// `uri` without its fragment; `http://x/s#` and `http://x/s` name the same resource.
    static func withoutFragment(_ uri: String) -> String { splitFragment(uri).base }

    /// Decodes `%XX` escapes (a fragment is percent-encoded before it is a JSON Pointer).
    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let c = utf8.first {
            utf8 = utf8.dropFirst()
            if c == UInt8(ascii: "%"), utf8.count >= 2,
                let hi = hexValue(utf8[utf8.startIndex]), let lo = hexValue(utf8[utf8.startIndex + 1])
            {
                bytes.append(hi << 4 | lo)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }
}
