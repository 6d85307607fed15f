import KeelCore

extension JSONValue {
    /// JSON Schema equality (`const`, `enum`, `uniqueItems`): strings (and object keys) are equal
    /// only when their code points are. `JSONValue ==` already compares them byte for byte
    /// (Swift's `String ==` alone would treat "é" and "e" + U+0301 as equal; JSON Schema does not).
    func isExactlyEqual(to other: JSONValue) -> Bool { self == other }

    /// True when every string (and key) inside is ASCII.
    var isASCIIOnly: Bool {
        switch self {
        case .string(let s): return s.utf8.allSatisfy { $0 < 0x80 }
        case .array(let a): return a.allSatisfy(\.isASCIIOnly)
        case .object(let o): return o.allSatisfy { $0.key.utf8.allSatisfy { $0 < 0x80 } && $0.value.isASCIIOnly }
        default: return true
        }
    }
}
