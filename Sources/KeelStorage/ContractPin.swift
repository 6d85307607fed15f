public import KeelCore

/// The owned contract of an activity or workflow name: pinned by the first registration from
/// a worker allowed to serve it; changed by an allowed worker (compatibly, or with an explicit flag
/// for a breaking change) or by an admin, each change raising ``version`` (docs/security.md).
public struct ContractPin: Sendable, Equatable {
    /// `activity` or `workflow`.
    public var kind: String
    public var name: String
    public var hash: String
    public var input: JSONValue
    public var output: JSONValue
    /// The credential that pinned it (`worker-token`, `spawned:NAME`, `admin-token`…), never a secret.
    public var owner: String
    /// The registering worker's name.
    public var ownerWorker: String
    public var pinnedAt: EpochMillis
    /// 1 when first pinned, raised by one with each accepted change.
    public var version: Int

    public init(
        kind: String, name: String, hash: String, input: JSONValue, output: JSONValue, owner: String,
        ownerWorker: String, pinnedAt: EpochMillis, version: Int = 1
    ) {
        self.kind = kind
        self.name = name
        self.hash = hash
        self.input = input
        self.output = output
        self.owner = owner
        self.ownerWorker = ownerWorker
        self.pinnedAt = pinnedAt
        self.version = version
    }
}
