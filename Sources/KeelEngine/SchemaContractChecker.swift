public import KeelCore
import KeelSchema

/// The engine's contract checks on the KeelSchema validator, compiled once per schema and cached
/// by content hash.
public struct SchemaContractChecker: ContractChecker {
    private let cache: ValidatorCache
    /// Errors reported per payload; the rest are counted, not listed.
    public static let maximumErrors = 20

    public init() {
        // Contracts may only use patterns that match in linear time (docs/schema.md).
        cache = ValidatorCache(options: ValidatorOptions(maxErrors: Self.maximumErrors, requireLinearPatterns: true))
    }

    public func prepare(_ schema: JSONValue) throws {
        _ = try cache.validator(for: schema)
    }

    public func errors(of value: JSONValue, against schema: JSONValue) -> [JSONValue] {
        guard let validator = try? cache.validator(for: schema) else {
            return [["instanceLocation": "", "keywordLocation": "", "keyword": "$schema", "message": "the contract's schema does not compile"]]
        }
        if validator.isValid(value) { return [] }
        return validator.validate(value).map(\.json)
    }

    public func hash(_ value: JSONValue) -> String { ContractHash.of(value) }
}
