public import KeelCore
import KeelStorage

/// An activity's contract as a worker declared it (DESIGN.md, "Activities").
public struct ActivityContract: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var input: JSONValue
    public var output: JSONValue
    public var retryPolicy: RetryPolicy
    public var timeouts: ActivityTimeouts
    /// Content hash of input and output schemas; recorded with each task checked against it.
    public var hash: String
    /// The keys the contract checker finds the compiled `input` and `output` by
    /// (``ContractChecker/prepare(_:)``): a check does not hash its schema again.
    public var inputKey: String
    public var outputKey: String

    /// Which of a contract's two schemas a payload is checked against (and, in
    /// `keel_contract_violations_total`, the `direction` a refused payload went).
    public enum Side: String, Sendable {
        case input, output
    }

    /// The schema of `side` and the key of its compiled form.
    public func schema(_ side: Side) -> (schema: JSONValue, key: String) {
        switch side {
        case .input: (input, inputKey)
        case .output: (output, outputKey)
        }
    }

    /// Two declarations are the same contract when their schemas are equal.
    public func sameSchemas(as other: ActivityContract) -> Bool { input == other.input && output == other.output }
}

/// A connected worker as the registry sees it.
public struct WorkerInfo: Sendable {
    public var workerId: String
    public var connectionID: UInt64
    public var name: String
    public var language: String
    public var transport: String
    public var pid: Int32?
    public var activities: [String]
    public var workflows: [String]
    /// The updates whose contracts it declared (docs/protocol.md, "Updates").
    public var updates: [String] = []
    public var maxConcurrent: Int
    public var inFlight: Int = 0
    public var maxConcurrentWorkflows: Int = 1000
    public var workflowsInFlight: Int = 0
    public var connectedAt: EpochMillis
    /// The build of the code this worker runs (docs/versioning.md); nil for an unversioned worker.
    public var buildId: String?
    /// Older builds whose executions this worker can continue.
    public var compatibleBuildIds: [String] = []

    /// Whether this worker may run an execution pinned to `build` (nil: not pinned, any worker may).
    public func canRun(build: String?) -> Bool {
        guard let build else { return true }
        return buildId == build || compatibleBuildIds.contains(build)
    }

    public var json: JSONValue {
        let base: JSONValue = [
            "workerId": .string(workerId), "name": .string(name), "language": .string(language),
            "transport": .string(transport), "pid": pid.map { JSONValue(Int64($0)) } ?? .null,
            "activities": .array(activities.map { .string($0) }), "workflows": .array(workflows.map { .string($0) }),
            "maxConcurrent": JSONValue(maxConcurrent), "inFlight": JSONValue(inFlight),
            "maxConcurrentWorkflows": JSONValue(maxConcurrentWorkflows), "workflowsInFlight": JSONValue(workflowsInFlight),
            "connectedAtMs": JSONValue(connectedAt),
        ]
        guard let buildId, case .object(var o) = base else { return base }
        o["buildId"] = .string(buildId)
        o["compatibleBuildIds"] = .array(compatibleBuildIds.map { .string($0) })
        return .object(o)
    }
}

/// Which worker serves what, and with how much room. Pure state: the engine owns one.
struct WorkerRegistry {
    private(set) var workers: [UInt64: WorkerInfo] = [:]
    private(set) var contracts: [String: ActivityContract] = [:]
    private(set) var workflowContracts: [String: ActivityContract] = [:]
    /// Update name → the contract its input and answer are checked against.
    private(set) var updateContracts: [String: ActivityContract] = [:]
    /// Activity name → connection ids of the workers serving it, in registration order.
    private var servers: [String: [UInt64]] = [:]
    /// Workflow name → connection ids of the workers serving it.
    private var workflowServers: [String: [UInt64]] = [:]
    /// Update name → connection ids of the workers declaring its contract.
    private var updateDeclarers: [String: [UInt64]] = [:]

    /// Adds a worker, or refuses it if one of its contracts conflicts with a connected worker's.
    mutating func register(
        _ worker: WorkerInfo, contracts declared: [ActivityContract], workflows: [ActivityContract] = [],
        updates: [ActivityContract] = []
    ) throws {
        let checks = declared.map { ($0, contracts[$0.name], servers[$0.name], "activity") }
            + workflows.map { ($0, workflowContracts[$0.name], workflowServers[$0.name], "workflow") }
            + updates.map { ($0, updateContracts[$0.name], updateDeclarers[$0.name], "update") }
        for (c, known, holders, kind) in checks {
            if let existing = known, !existing.sameSchemas(as: c),
                let holder = holders?.first(where: { $0 != worker.connectionID }).flatMap({ workers[$0] })
            {
                throw KeelError(
                    .contractConflict,
                    "\(kind) \(c.name) is already served by worker \(holder.workerId) (\(holder.name)) with a different "
                        + "contract (hash \(existing.hash)); worker \(worker.workerId) (\(worker.name)) declared hash \(c.hash). "
                        + "Deploy one contract per name, or give the new one a new name.",
                    data: [
                        "activity": .string(c.name), "existingWorker": .string(holder.workerId),
                        "existingWorkerName": .string(holder.name), "newWorker": .string(worker.workerId),
                        "newWorkerName": .string(worker.name), "existingHash": .string(existing.hash),
                        "newHash": .string(c.hash),
                    ])
            }
        }
        remove(connectionID: worker.connectionID)
        workers[worker.connectionID] = worker
        for c in declared {
            contracts[c.name] = c
            servers[c.name, default: []].append(worker.connectionID)
        }
        for c in workflows {
            workflowContracts[c.name] = c
            workflowServers[c.name, default: []].append(worker.connectionID)
        }
        for c in updates {
            updateContracts[c.name] = c
            updateDeclarers[c.name, default: []].append(worker.connectionID)
        }
    }

    /// Removes a worker; returns it if it was registered.
    @discardableResult
    mutating func remove(connectionID: UInt64) -> WorkerInfo? {
        guard let w = workers.removeValue(forKey: connectionID) else { return nil }
        for name in w.activities {
            servers[name]?.removeAll { $0 == connectionID }
            if servers[name]?.isEmpty == true { servers[name] = nil }
        }
        for name in w.workflows {
            workflowServers[name]?.removeAll { $0 == connectionID }
            if workflowServers[name]?.isEmpty == true { workflowServers[name] = nil }
        }
        for name in w.updates {
            updateDeclarers[name]?.removeAll { $0 == connectionID }
            if updateDeclarers[name]?.isEmpty == true { updateDeclarers[name] = nil }
        }
        return w
    }

    /// The least-loaded worker serving `name` with a free slot (load = inFlight / maxConcurrent).
    /// `canSend` says whether a worker can take another message now (its connection is not
    /// backed up); a worker that cannot is skipped until it drains (issue 10, item 5).
    func pickWorker(for name: String, canSend: (UInt64) -> Bool = { _ in true }) -> UInt64? {
        var best: (id: UInt64, load: Double)?
        for id in servers[name] ?? [] {
            guard let w = workers[id], w.inFlight < w.maxConcurrent, canSend(id) else { continue }
            let load = Double(w.inFlight) / Double(w.maxConcurrent)
            if best == nil || load < best!.load { best = (id, load) }
        }
        return best?.id
    }

    func hasServer(for name: String) -> Bool { servers[name]?.isEmpty == false }

    /// Activity names some connected worker serves.
    var servedActivities: [String] { Array(servers.keys) }

    /// Free slots among the workers serving `name` that can take a message now: how many tasks of
    /// `name` this node may claim from a shared store.
    func freeSlots(for name: String, canSend: (UInt64) -> Bool = { _ in true }) -> Int {
        (servers[name] ?? []).reduce(0) { total, id in
            guard let w = workers[id], canSend(id) else { return total }
            return total + max(0, w.maxConcurrent - w.inFlight)
        }
    }

    /// True when a connected worker serves workflow `name`.
    func hasWorkflowServer(for name: String) -> Bool { workflowServers[name]?.isEmpty == false }

    /// The least-loaded worker serving workflow `name` with room for another run, that may run an
    /// execution pinned to `build` (docs/versioning.md). An unpinned execution (`build` nil) goes to
    /// a worker of ``defaultBuild(for:)`` when versioned workers serve `name`, else to any.
    func pickWorkflowWorker(for name: String, build: String?, canSend: (UInt64) -> Bool = { _ in true }) -> UInt64? {
        let target = build ?? defaultBuild(for: name)
        var best: (id: UInt64, load: Int)?
        for id in workflowServers[name] ?? [] {
            guard let w = workers[id], w.workflowsInFlight < w.maxConcurrentWorkflows, canSend(id), w.canRun(build: target)
            else { continue }
            if best == nil || w.workflowsInFlight < best!.load { best = (id, w.workflowsInFlight) }
        }
        return best?.id
    }

    /// The build new executions of `name` are pinned to: among the builds of the connected
    /// workers serving it, one that no other connected build lists as compatible (the newest in
    /// a line of compatible builds); of several, the one whose oldest connected worker connected
    /// last (the latest deploy). Nil when no versioned worker serves `name`.
    func defaultBuild(for name: String) -> String? {
        var firstConnected: [String: EpochMillis] = [:]
        var superseded: Set<String> = []
        for id in workflowServers[name] ?? [] {
            guard let w = workers[id], let build = w.buildId else { continue }
            firstConnected[build] = min(firstConnected[build] ?? .max, w.connectedAt)
            superseded.formUnion(w.compatibleBuildIds.filter { $0 != build })
        }
        return firstConnected.filter { !superseded.contains($0.key) }
            .max { ($0.value, $0.key) < ($1.value, $1.key) }?.key
    }

    /// What this node's workers of workflow `name` can take from a shared store: executions
    /// pinned to a build one of them runs, and unpinned ones (pinned on claim to the default build).
    func buildChoice(for name: String) -> BuildChoice {
        var runnable: Set<String> = []
        for id in workflowServers[name] ?? [] {
            guard let w = workers[id], let build = w.buildId else { continue }
            runnable.insert(build)
            runnable.formUnion(w.compatibleBuildIds)
        }
        return BuildChoice(runnable: runnable.sorted(), takesUnpinned: true, pinUnpinnedTo: defaultBuild(for: name))
    }

    /// Workflow names some connected worker serves.
    var servedWorkflows: [String] { Array(workflowServers.keys) }

    /// Free run slots among the workers serving workflow `name` that can take a message now: how
    /// many executions of `name` this node may claim from a shared store.
    func freeWorkflowSlots(for name: String, canSend: (UInt64) -> Bool = { _ in true }) -> Int {
        (workflowServers[name] ?? []).reduce(0) { total, id in
            guard let w = workers[id], canSend(id) else { return total }
            return total + max(0, w.maxConcurrentWorkflows - w.workflowsInFlight)
        }
    }

    mutating func adjustWorkflowsInFlight(_ connectionID: UInt64, by delta: Int) {
        workers[connectionID]?.workflowsInFlight += delta
    }

    mutating func adjustInFlight(_ connectionID: UInt64, by delta: Int) {
        workers[connectionID]?.inFlight += delta
    }
}
