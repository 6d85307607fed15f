/// Writes compact JSON: no insignificant white space and never a raw newline, so every value is
/// one line of the wire protocol (docs/protocol.md, "Framing").
public enum JSONWriter {
    /// Appends the JSON text of `value` to `out`.
    /// - Parameter sortedKeys: write object members in key order (for stable hashes and golden files).
    public static func write(_ value: JSONValue, into out: inout [UInt8], sortedKeys: Bool = false) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(true): out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .bool(false): out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .number(let n): writeNumber(n, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for e in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(e, into: &out, sortedKeys: sortedKeys)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            func member(_ k: String, _ v: JSONValue) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                write(v, into: &out, sortedKeys: sortedKeys)
            }
            if sortedKeys {
                // String order, then byte order for keys String calls equal (NFC/NFD twins).
                let sorted = members.sorted { a, b in
                    a.key != b.key ? a.key < b.key : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
                }
                for (k, v) in sorted { member(k, v) }
            } else {
                for (k, v) in members { member(k, v) }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The JSON text of `value` as bytes.
    public static func bytes(_ value: JSONValue, sortedKeys: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(value, into: &out, sortedKeys: sortedKeys)
        return out
    }

    /// The JSON text of `value` as a string.
    public static func string(_ value: JSONValue, sortedKeys: Bool = false) -> String {
        String(decoding: bytes(value, sortedKeys: sortedKeys), as: UTF8.self)
    }

    static func writeNumber(_ n: JSONNumber, into out: inout [UInt8]) {
        switch n.storage {
        case .int(var i):
            if i == 0 { out.append(48); return }
            if i < 0 {
                out.append(UInt8(ascii: "-"))
                if i == .min { out.append(contentsOf: Array("9223372036854775808".utf8)); return }
                i = -i
            }
            // The digits go straight into `out`, least significant first, then turn around:
            // no buffer of their own per number.
            let first = out.count
            while i > 0 { out.append(UInt8(48 + i % 10)); i /= 10 }
            out[first...].reverse()
        case .literal(let s, _):
            out.append(contentsOf: s.utf8)
        }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { buffer in
            var runStart = 0
            for i in 0..<buffer.count {
                let c = buffer[i]
                let escape: UInt8?
                switch c {
                case UInt8(ascii: "\""): escape = UInt8(ascii: "\"")
                case UInt8(ascii: "\\"): escape = UInt8(ascii: "\\")
                case 0x0A: escape = UInt8(ascii: "n")
                case 0x0D: escape = UInt8(ascii: "r")
                case 0x09: escape = UInt8(ascii: "t")
                case 0..<0x20: escape = 0
                default: continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<i]))
                runStart = i + 1
                out.append(UInt8(ascii: "\\"))
                if let e = escape, e != 0 {
                    out.append(e)
                } else {
                    out.append(contentsOf: [UInt8(ascii: "u"), 48, 48, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<buffer.count]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
