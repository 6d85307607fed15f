import KeelCore

extension Evaluation {
    /// Applies one assertion keyword (no subschemas) to `value`.
    @inline(never)
    mutating func checkAssertion(_ keyword: UnsafePointer<Keyword>, _ value: JSONValue) -> Bool {
        switch keyword.pointee {
        case .falseSchema:
            return fail("false", "no value is allowed here (the schema is false)", appendKeyword: false)
        case .type(let mask):
            if mask.matches(value) { return true }
            return fail("type", "\(describe(value)) is not of type \(mask.names.joined(separator: " or "))")
        case .enumeration(let values, let set):
            // Short lists are scanned (cheaper than hashing the value).
            if values.count <= 8 ? values.contains(value) : set.contains(value) { return true }
            return fail("enum", "\(describe(value)) is not one of \(describe(.array(values)))")
        case .const(let c):
            if value.isExactlyEqual(to: c) { return true }
            return fail("const", "\(describe(value)) is not equal to the constant \(describe(c))")
        case .multipleOf(let d):
            guard case .number(let n) = value, !Arithmetic.isMultiple(n, of: d) else { return true }
            return fail("multipleOf", "\(n) is not a multiple of \(d)")
        case .maximum(let m):
            guard case .number(let n) = value, Arithmetic.compare(n, m) > 0 else { return true }
            return fail("maximum", "\(n) is greater than the maximum \(m)")
        case .exclusiveMaximum(let m):
            guard case .number(let n) = value, Arithmetic.compare(n, m) >= 0 else { return true }
            return fail("exclusiveMaximum", "\(n) is not less than the exclusive maximum \(m)")
        case .minimum(let m):
            guard case .number(let n) = value, Arithmetic.compare(n, m) < 0 else { return true }
            return fail("minimum", "\(n) is less than the minimum \(m)")
        case .exclusiveMinimum(let m):
            guard case .number(let n) = value, Arithmetic.compare(n, m) <= 0 else { return true }
            return fail("exclusiveMinimum", "\(n) is not greater than the exclusive minimum \(m)")
        case .maxLength(let m):
            // Length counts code points; UTF-8 length is an upper bound, so most strings skip the count.
            guard case .string(let s) = value, s.utf8.count > m else { return true }
            let length = scalarCount(s)
            if length <= m { return true }
            return fail("maxLength", "a string of \(length) characters is longer than the maximum length \(m)")
        case .minLength(let m):
            guard case .string(let s) = value else { return true }
            if s.utf8.count < m {
                return fail(
                    "minLength", "a string of \(scalarCount(s)) characters is shorter than the minimum length \(m)")
            }
            // As many bytes as `m` can still be fewer code points ("é" is 2 bytes): count.
            let length = scalarCount(s)
            if length >= m { return true }
            return fail("minLength", "a string of \(length) characters is shorter than the minimum length \(m)")
        case .pattern(let re):
            guard case .string(let s) = value, !re.matches(s) else { return true }
            return fail("pattern", "\(describe(value)) does not match the pattern \(describe(.string(re.source)))")
        case .format(let name, let checker):
            guard case .string(let s) = value, !checker.check(s) else { return true }
            return fail("format", "\(describe(value)) is not a valid \(name)")
        case .content(let encoding, let mediaType):
            guard case .string(let s) = value else { return true }
            var bytes = Array(s.utf8)
            if encoding?.lowercased() == "base64" {
                guard let decoded = Base64.decode(bytes) else {
                    return fail("contentEncoding", "\(describe(value)) is not valid base64")
                }
                bytes = decoded
            }
            if mediaType?.lowercased() == "application/json", (try? JSONParser.parse(bytes)) == nil {
                return fail("contentMediaType", "\(describe(value)) is not a JSON document")
            }
            return true
        case .maxItems(let m):
            guard case .array(let a) = value, a.count > m else { return true }
            return fail("maxItems", "an array of \(a.count) items has more than the maximum \(m)")
        case .minItems(let m):
            guard case .array(let a) = value, a.count < m else { return true }
            return fail("minItems", "an array of \(a.count) items has fewer than the minimum \(m)")
        case .uniqueItems:
            guard case .array(let a) = value, let (j, i) = a.firstEqualPair else { return true }
            return fail("uniqueItems", "items at index \(j) and \(i) are equal, but items must be unique")
        case .maxProperties(let m):
            guard case .object(let o) = value, o.count > m else { return true }
            return fail("maxProperties", "an object with \(o.count) properties has more than the maximum \(m)")
        case .minProperties(let m):
            guard case .object(let o) = value, o.count < m else { return true }
            return fail("minProperties", "an object with \(o.count) properties has fewer than the minimum \(m)")
        case .required(let names):
            guard case .object(let o) = value else { return true }
            var ok = true
            for name in names where o.member(name) == nil {
                ok = fail("required", "the required property \(describe(.string(name))) is missing")
                if !full || shouldStop { return false }
            }
            return ok
        case .dependentRequired(let pairs, let key):
            guard case .object(let o) = value else { return true }
            var ok = true
            for (name, required) in pairs where o.member(name) != nil {
                for r in required where o.member(r) == nil {
                    ok = fail(
                        key,
                        "the property \(describe(.string(r))) is required when \(describe(.string(name))) is present")
                    if !full || shouldStop { return false }
                }
            }
            return ok
        default:
            return true
        }
    }
}

/// The number of Unicode scalars in `s` (the length `minLength`/`maxLength` count): in valid
/// UTF-8, the bytes that are not continuation bytes (`10xxxxxx`). Counting them in the
/// contiguous buffer is several times faster than decoding `unicodeScalars` (issue 15).
func scalarCount(_ s: String) -> Int {
    let counted = s.utf8.withContiguousStorageIfAvailable { bytes in
        var count = 0
        for byte in bytes where byte & 0xC0 != 0x80 { count += 1 }
        return count
    }
    return counted ?? s.unicodeScalars.count
}

extension JSONObject {
    /// `self[name]` (small objects are scanned, large ones hashed; see `JSONObject`).
    @inline(__always)
    func member(_ name: String) -> JSONValue? { self[name] }
}

/// RFC 4648 base64 (standard alphabet, padding optional) for draft-07 `contentEncoding`.
enum Base64 {
    static func decode(_ input: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in input {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c) - 65
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c) - 71
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c) + 4
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            if padding > 0 { return nil }
            buffer = buffer << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((buffer >> UInt32(bits)) & 0xFF))
            }
        }
        return padding <= 2 ? out : nil
    }
}
