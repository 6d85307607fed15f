public import KeelCore
import KeelSchema
import Synchronization

/// The engine's contract checks on the KeelSchema validator, compiled once per schema and cached
/// by content hash.
public struct SchemaContractChecker: ContractChecker {
    private let cache: ValidatorCache
    /// Recent compile failures by content hash, so a refused schema that `worker/register`
    /// compiled off the actor is not compiled again on it (bounded: cleared past 64 entries).
    private let failures = FailureCache()
    /// Errors reported per payload; the rest are counted, not listed.
    public static let maximumErrors = 20

    public init() {
        // Contracts may only use patterns that match in linear time (docs/schema.md).
        cache = ValidatorCache(options: ValidatorOptions(maxErrors: Self.maximumErrors, requireLinearPatterns: true))
    }

    public func prepare(_ schema: JSONValue) throws -> String {
        let hash = ContractHash.of(schema)
        if let known = failures.map.withLock({ $0[hash] }) { throw known }
        do {
            _ = try cache.validator(for: schema, hash: hash)
            return hash
        } catch let error as KeelError {
            failures.map.withLock { known in
                if known.count >= 64 { known.removeAll() }
                known[hash] = error
            }
            throw error
        }
    }

    public func errors(of value: JSONValue, against schema: JSONValue, key: String) -> [JSONValue] {
        guard let validator = try? cache.validator(for: schema, hash: key) else {
            return [["instanceLocation": "", "keywordLocation": "", "keyword": "$schema", "message": "the contract's schema does not compile"]]
        }
        if validator.isValid(value) { return [] }
        return validator.validate(value).map(\.json)
    }

    public func hash(_ value: JSONValue) -> String { ContractHash.of(value) }
}

/// Holds the failure map (a `Mutex` cannot be copied with the struct).
private final class FailureCache: Sendable {
    let map = Locked<[String: KeelError]>([:])
}
