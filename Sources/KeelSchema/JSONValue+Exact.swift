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

extension [JSONValue] {
    /// The indexes (earlier, later) of two exactly equal items, or nil when all are distinct
    /// (`uniqueItems`).
    var firstEqualPair: (Int, Int)? {
        guard count > 1 else { return nil }
        var seen: [JSONValue: Int] = [:]
        seen.reserveCapacity(count)
        for (i, e) in enumerated() {
            guard let j = seen.updateValue(i, forKey: e) else { continue }
            if e.isASCIIOnly || self[j].isExactlyEqual(to: e) { return (j, i) }
            // Canonically equal but not the same code points: compare exactly, pairwise.
            for x in 0..<count {
                for y in (x + 1)..<count where self[x].isExactlyEqual(to: self[y]) { return (x, y) }
            }
            return nil
        }
        return nil
    }
}
