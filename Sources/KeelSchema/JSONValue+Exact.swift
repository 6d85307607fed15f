import KeelCore

extension JSONValue {
    /// JSON Schema equality (`const`, `enum`, `uniqueItems`): like `==`, except that strings are
    /// equal only when their code points are. Swift's `String ==` treats canonically equivalent
    /// strings as equal ("é" as one code point or as "e" + U+0301); JSON Schema does not.
    func isExactlyEqual(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)):
            return a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)):
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where !x.isExactlyEqual(to: y) { return false }
            return true
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (key, x) in a {
                guard let i = b.index(forKey: key), b[i].key.utf8.elementsEqual(key.utf8),
                    x.isExactlyEqual(to: b[i].value)
                else { return false }
            }
            return true
        default:
            return self == other
        }
    }

    /// True when every string (and key) inside is ASCII: then `==` already is exact equality.
    var isASCIIOnly: Bool {
        switch self {
        case .string(let s): return s.utf8.allSatisfy { $0 < 0x80 }
        case .array(let a): return a.allSatisfy(\.isASCIIOnly)
        case .object(let o): return o.allSatisfy { $0.key.utf8.allSatisfy { $0 < 0x80 } && $0.value.isASCIIOnly }
        default: return true
        }
    }
}
