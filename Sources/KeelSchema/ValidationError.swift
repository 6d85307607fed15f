public import KeelCore

/// One way an instance breaks its schema.
public struct ValidationError: Sendable, Equatable, CustomStringConvertible {
    /// JSON Pointer to the offending value in the instance, e.g. `/items/3/price` (`""` = root).
    public var instanceLocation: String
    /// JSON Pointer through the schema keywords evaluated to get there, `$ref` included, e.g.
    /// `/properties/items/items/properties/price/minimum`.
    public var keywordLocation: String
    /// The keyword that failed, e.g. `minimum`.
    public var keyword: String
    /// One sentence, e.g. `-5 is less than the minimum 0`.
    public var message: String

    public init(instanceLocation: String, keywordLocation: String, keyword: String, message: String) {
        self.instanceLocation = instanceLocation
        self.keywordLocation = keywordLocation
        self.keyword = keyword
        self.message = message
    }

    /// `at /items/3/price: -5 is less than the minimum 0` (`at /` for the root).
    public var description: String {
        "at \(instanceLocation.isEmpty ? "/" : instanceLocation): \(message)"
    }

    /// The machine-readable form: `{instanceLocation, keywordLocation, keyword, message}`.
    public var json: JSONValue {
        .object([
            "instanceLocation": .string(instanceLocation),
            "keywordLocation": .string(keywordLocation),
            "keyword": .string(keyword),
            "message": .string(message),
        ])
    }
}
