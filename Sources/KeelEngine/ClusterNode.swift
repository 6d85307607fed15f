public import KeelStorage

/// What an engine needs to be one node of several sharing one ``Store`` (docs/scaling.md,
/// "Activities across nodes"): the store, this node's lease, and how often to look at the store.
///
/// A node stores every new task unclaimed; whichever node has a worker with a free slot for its
/// name claims it (`FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL), runs it and records its end,
/// each write fenced by the attempt. A caller waiting on another node sees the end by polling.
public struct ClusterNode: Sendable {
    public let store: any Store
    public let membership: NodeMembership
    /// How often the node claims ready tasks for its workers and checks on the tasks its callers
    /// wait for that run elsewhere. A call accepted here with a local worker free is claimed at once.
    public var pollInterval: Duration
    /// The most tasks one claim takes for one activity name.
    public var claimBatch: Int
    /// Wakes the node's loop early on the store's hints (``Store/readyHints()``).
    let trigger = RoundTrigger()
    /// Wakes the check on callers waiting here for work that runs on other nodes
    /// (``Engine/remoteWaitLoop()``) on the same hints.
    let waitTrigger = RoundTrigger()

    public init(
        store: any Store, membership: NodeMembership, pollInterval: Duration = .milliseconds(50), claimBatch: Int = 64
    ) {
        self.store = store
        self.membership = membership
        self.pollInterval = pollInterval
        self.claimBatch = claimBatch
    }
}
