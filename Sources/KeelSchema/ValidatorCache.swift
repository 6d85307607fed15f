public import KeelCore
import Synchronization

/// Compiled validators keyed by schema content hash, shared across threads.
///
/// Compilation runs outside the lock; two threads compiling the same new schema at once both
/// compile, and the first stored wins (compiling is pure, so this is only wasted work).
public final class ValidatorCache: Sendable {
    private let validators = Locked<[String: Validator]>([:])
    /// The registry and options every validator in this cache is compiled with.
    public let registry: SchemaRegistry
    public let options: ValidatorOptions
    /// The cache is cleared when it would grow past this many entries (a bound on memory for
    /// long-running processes that see many distinct schemas).
    public let capacity: Int

    /// - Parameters:
    ///   - registry: schemas available to `$ref`.
    ///   - options: compile options for every validator.
    ///   - capacity: most validators kept (default 1,024).
    public init(registry: SchemaRegistry = .init(), options: ValidatorOptions = .init(), capacity: Int = 1_024) {
        self.registry = registry
        self.options = options
        self.capacity = max(1, capacity)
    }

    /// The validator for `schema`, compiled on first use.
    /// - Throws: `KeelError(.invalidSchema)` as ``Validator/init(schema:registry:options:)``;
    ///   failures are not cached.
    public func validator(for schema: JSONValue) throws -> Validator {
        try validator(for: schema, hash: ContractHash.of(schema))
    }

    /// As ``validator(for:)`` with a precomputed ``ContractHash`` (saves hashing large schemas).
    public func validator(for schema: JSONValue, hash: String) throws -> Validator {
        if let v = validators.withLock({ $0[hash] }) { return v }
        let compiled = try Validator(schema: schema, registry: registry, options: options)
        return validators.withLock { cache in
            if let existing = cache[hash] { return existing }
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[hash] = compiled
            return compiled
        }
    }

    /// The number of validators held.
    public var count: Int { validators.withLock { $0.count } }
}
