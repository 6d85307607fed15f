import Foundation

/// `JSONValue` as a Codable value, so Swift types convert to and from payloads.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .number(JSONNumber(i)); return }
        if let d = try? c.decode(Double.self) { self = .number(JSONNumber(d)); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(JSONObject(try c.decode([String: JSONValue].self)))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if let i = n.int64Value { try c.encode(i) } else { try c.encode(n.doubleValue) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o.dictionary)
        }
    }

    /// The JSON form of an `Encodable` value.
    public init(encoding value: some Encodable) throws {
        // A JSONValue is already JSON: a round trip through JSONEncoder would lose `-0` and
        // merge keys that differ only by Unicode normalization.
        if let value = value as? JSONValue { self = value; return }
        let data = try JSONEncoder().encode(value)
        self = try JSONParser.parse(Array(data))
    }

    /// Decodes this value as `T`.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        if let same = self as? T { return same }  // exact, see init(encoding:)
        return try JSONDecoder().decode(T.self, from: Data(JSONWriter.bytes(self)))
    }
}
