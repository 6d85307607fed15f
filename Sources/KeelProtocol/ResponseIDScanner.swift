public import KeelCore

/// Finds the top-level `id` of a line that did not parse (too deep, say), without building it,
/// so that an unreadable *answer* to one of our calls fails that call at once instead of leaving
/// it to its timeout. Only a line that looks like a response qualifies: a top-level object with
/// an `id` and without `method`. One pass, constant memory, no recursion.
enum ResponseIDScanner {
    /// The id of the response in `bytes`, or nil if it has none, has a `method`, or is not an object.
    static func responseID(in bytes: UnsafeRawBufferPointer) -> RPCID? {
        var depth = 0
        var inString = false
        var escaped = false
        var expectKey = false
        var keyStart: Int?
        var lastKey: [UInt8] = []
        var found: RPCID?
        var sawMethod = false
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if inString {
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                    if let start = keyStart {
                        lastKey = Array(bytes[start..<i])
                        keyStart = nil
                    }
                }
                i += 1
                continue
            }
            switch b {
            case UInt8(ascii: "\""):
                inString = true
                if depth == 1 && expectKey { keyStart = i + 1 }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 0 && b != UInt8(ascii: "{") { return nil }
                depth += 1
                expectKey = depth == 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectKey = true }
            case UInt8(ascii: ":") where depth == 1:
                expectKey = false
                if lastKey == Array("method".utf8) { sawMethod = true }
                if lastKey == Array("id".utf8), found == nil { found = value(in: bytes, from: i + 1) }
            default:
                break
            }
            i += 1
        }
        return sawMethod ? nil : found
    }

    /// A string (without escapes) or integer id starting after `from` (past blanks).
    private static func value(in bytes: UnsafeRawBufferPointer, from: Int) -> RPCID? {
        var i = from
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        guard i < bytes.count else { return nil }
        if bytes[i] == UInt8(ascii: "\"") {
            var j = i + 1
            while j < bytes.count, bytes[j] != UInt8(ascii: "\""), bytes[j] != UInt8(ascii: "\\") { j += 1 }
            guard j < bytes.count, bytes[j] == UInt8(ascii: "\"") else { return nil }
            return .string(String(decoding: bytes[(i + 1)..<j], as: UTF8.self))
        }
        var j = i
        if j < bytes.count, bytes[j] == UInt8(ascii: "-") { j += 1 }
        let digitsStart = j
        while j < bytes.count, j - digitsStart < 18, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[j]) { j += 1 }
        guard j > digitsStart, let n = Int64(String(decoding: bytes[i..<j], as: UTF8.self)) else { return nil }
        return .number(n)
    }
}
