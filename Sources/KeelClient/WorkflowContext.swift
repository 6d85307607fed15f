public import KeelCore
public import KeelProtocol
import Synchronization

/// A workflow's handle on durable steps. Every call is journaled: on replay it returns the
/// recorded result at once, so the code between steps must be deterministic.
public final class WorkflowContext: Sendable {
    public let workflowId: String
    public let runId: Int
    /// True when a client asked to cancel this execution.
    public let cancelRequested: Bool
    /// The W3C `traceparent` of Keel's span for this execution, when tracing or the caller gave
    /// one: the parent of the workflow code's own spans (docs/traces.md).
    public let traceparent: String?
    let connection: RPCConnection
    /// The run's `attemptToken`, echoed in every step (docs/security.md).
    let attemptToken: String?
    let journal: [Int: JSONValue]
    let nextSeq = Locked(1)
    /// The answers of ``patched(_:)`` in this run, by patch id.
    let patches = Locked<[String: Bool]>([:])
    let suspendedFlag = Atomic<Bool>(false)
    /// Set once Keel ended the execution (`workflow/cancel`): later steps throw at once.
    let stoppedFlag = Atomic<Bool>(false)

    init(params: JSONValue, connection: RPCConnection) {
        workflowId = params["workflowId"]?.stringValue ?? ""
        runId = Int(params["runId"]?.int64Value ?? 0)
        cancelRequested = params["cancelRequested"]?.boolValue ?? false
        attemptToken = params["attemptToken"]?.stringValue
        traceparent = params["traceparent"]?.stringValue
        var journal: [Int: JSONValue] = [:]
        for e in params["journal"]?.arrayValue ?? [] {
            if let seq = e["seq"]?.int64Value { journal[Int(seq)] = e }
        }
        self.journal = journal
        self.connection = connection
    }

    var suspended: Bool { suspendedFlag.load(ordering: .acquiring) }

    /// Stops the run: every later step throws `CancellationError` without reaching the wire.
    func stop() { stoppedFlag.store(true, ordering: .releasing) }

    /// Runs one durable step: from the journal if recorded, else through the orchestrator.
    /// - Throws: ``ActivityFailure`` for a failed step, ``WorkflowSuspended`` to unwind.
    public func step(_ kind: String, name: String, input: JSONValue, options: JSONValue? = nil) async throws -> JSONValue {
        try await step(seq: reserveSeq(), kind, name: name, input: input, options: options)
    }

    /// Takes the next sequence number. Steps get theirs when *started*, in program order, so
    /// parallel steps are numbered deterministically whichever finishes first.
    func reserveSeq() -> Int {
        nextSeq.withLock { s in
            defer { s += 1 }
            return s
        }
    }

    /// Starts an activity now (its seq is taken here) and returns a handle to await later; start
    /// several, then await them together (`async let a = f1.value; async let b = f2.value`).
    public func startActivity<Output: Decodable & Sendable>(
        _ name: String, _ input: some Encodable, as type: Output.Type = Output.self, retryPolicy: JSONValue? = nil,
        timeouts: JSONValue? = nil, priority: Int? = nil, fairnessKey: String? = nil
    ) throws -> StepFuture<Output> {
        StepFuture(context: self, seq: reserveSeq(), kind: "activity", name: name, input: try JSONValue(encoding: input),
            options: Self.activityOptions(retryPolicy, timeouts, priority, fairnessKey))
    }

    /// An activity step's `options`: only what the code set, so an unset priority or fairness key
    /// leaves the execution's in force (docs/protocol.md, "Priorities and fairness").
    static func activityOptions(_ retryPolicy: JSONValue?, _ timeouts: JSONValue?, _ priority: Int?, _ fairnessKey: String?)
        -> JSONValue?
    {
        var options: [String: JSONValue] = [:]
        if let retryPolicy { options["retryPolicy"] = retryPolicy }
        if let timeouts { options["timeouts"] = timeouts }
        if let priority { options["priority"] = JSONValue(priority) }
        if let fairnessKey { options["fairnessKey"] = .string(fairnessKey) }
        return options.isEmpty ? nil : .object(options)
    }

    func step(seq: Int, _ kind: String, name: String, input: JSONValue, options: JSONValue?) async throws -> JSONValue {
        if stoppedFlag.load(ordering: .acquiring) { throw CancellationError() }
        if let recorded = journal[seq] {
            let (k, n) = (recorded["kind"]?.stringValue ?? "", recorded["name"]?.stringValue ?? "")
            guard k == kind, n == name else {
                throw ActivityFailure(
                    "step \(seq) is \(kind) \(name) in the code but \(k) \(n) in the journal", type: "NonDeterminism",
                    retryable: false, details: ["seq": JSONValue(seq)])
            }
            switch recorded["status"]?.stringValue {
            case "completed": return recorded["result"] ?? .null
            case "failed": throw ActivityFailure(json: recorded["failure"] ?? [:])
            default: break  // still running: ask again
            }
        }
        var params: [String: JSONValue] = [
            "workflowId": .string(workflowId), "runId": JSONValue(runId), "seq": JSONValue(seq), "kind": .string(kind),
            "name": .string(name), "input": input,
        ]
        if let options { params["options"] = options }
        if let attemptToken { params["attemptToken"] = .string(attemptToken) }
        let answer = try await connection.call("workflow/step", params: .object(params))
        switch answer["status"]?.stringValue {
        case "completed": return answer["result"] ?? .null
        case "failed": throw ActivityFailure(json: answer["failure"] ?? [:])
        default:
            suspendedFlag.store(true, ordering: .releasing)
            throw WorkflowSuspended()
        }
    }

    /// Calls an activity by name (any language) and decodes its output. `priority` and
    /// `fairnessKey` override the execution's for this step.
    public func activity<Output: Decodable>(
        _ name: String, _ input: some Encodable, as type: Output.Type = Output.self, retryPolicy: JSONValue? = nil,
        timeouts: JSONValue? = nil, priority: Int? = nil, fairnessKey: String? = nil
    ) async throws -> Output {
        let options = Self.activityOptions(retryPolicy, timeouts, priority, fairnessKey)
        let result = try await step("activity", name: name, input: try JSONValue(encoding: input), options: options)
        return try result.decode(as: Output.self)
    }

    /// Sleeps durably: survives restarts; a 30-day sleep frees the worker meanwhile.
    public func sleep(for duration: Duration) async throws {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        _ = try await step("sleep", name: "sleep", input: ["durationMs": JSONValue(ms)])
    }

    /// Waits for a signal and decodes its payload; signals sent earlier are buffered in order.
    public func signal<T: Decodable>(_ name: String, as type: T.Type = T.self, timeout: Duration? = nil) async throws -> T {
        var input: [String: JSONValue] = [:]
        if let timeout { input["timeoutMs"] = JSONValue(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000) }
        return try await step("signal", name: name, input: .object(input)).decode(as: T.self)
    }

    /// Runs a child workflow (any language) and waits for its output. `searchAttributes` and
    /// `memo` are the child's own, as `workflow/start` takes them.
    public func child<Output: Decodable>(
        _ name: String, _ input: some Encodable, id: String? = nil, searchAttributes: JSONObject? = nil, memo: JSONObject? = nil,
        as type: Output.Type = Output.self
    ) async throws -> Output {
        var i: [String: JSONValue] = ["input": try JSONValue(encoding: input)]
        if let id { i["workflowId"] = .string(id) }
        if let searchAttributes { i["searchAttributes"] = .object(searchAttributes) }
        if let memo { i["memo"] = .object(memo) }
        return try await step("child", name: name, input: .object(i)).decode(as: Output.self)
    }

    /// The current time in epoch milliseconds, recorded so replays see the same value.
    public func now() async throws -> Int64 { try await step("now", name: "now", input: [:]).int64Value ?? 0 }
    /// A random number in [0, 1), recorded.
    public func random() async throws -> Double { try await step("random", name: "random", input: [:]).doubleValue ?? 0 }
    /// A random UUID, recorded.
    public func uuid() async throws -> String { try await step("uuid", name: "uuid", input: [:]).stringValue ?? "" }

    /// Appends `event` to this execution's stream (`workflow/follow` reads it), once: a replay
    /// finds the step recorded and sends nothing.
    public func publish(_ event: JSONValue, name: String = "event") async throws {
        _ = try await step("publish", name: name, input: ["event": event])
    }

    /// Sets this execution's search attributes (docs/protocol.md, "Search attributes and memo"):
    /// each key to its value (a string, a number or a boolean), or `nil` (JSON null) to remove it.
    /// A `workflow/list` query finds the execution by them from then on. Recorded once; answers
    /// the attributes it now holds.
    @discardableResult
    public func upsertSearchAttributes(_ changes: JSONObject) async throws -> JSONValue {
        try await step("upsert", name: "searchAttributes", input: .object(changes))
    }

    /// Sets this execution's memo (unindexed data shown with it): each key to its value, or JSON
    /// null to remove it. Recorded once; answers the memo it now holds.
    @discardableResult
    public func upsertMemo(_ changes: JSONObject) async throws -> JSONValue {
        try await step("upsert", name: "memo", input: .object(changes))
    }

    /// Publishes `value` as the latest value of query `name` (docs/protocol.md, "Queries and
    /// signal-with-start"): `workflow/query` answers it from the store, with or without a worker.
    /// Recorded once; a replay sends nothing.
    public func setQueryValue(_ name: String, _ value: JSONValue) async throws {
        _ = try await step("query", name: name, input: ["value": value])
    }

    /// Waits for the next update named `name` (docs/protocol.md, "Updates"): a `signal` step on
    /// `update:NAME`. Answer it with ``respond(to:with:)`` or ``reject(_:message:type:details:)``.
    public func waitForUpdate(_ name: String, timeout: Duration? = nil) async throws -> WorkflowUpdate {
        let received: JSONValue = try await signal(Self.updateSignalPrefix + name, as: JSONValue.self, timeout: timeout)
        return WorkflowUpdate(id: received["updateId"]?.stringValue ?? "", name: name, input: received["input"] ?? .null)
    }

    /// Answers `update` with `result` (a `respond` step): its caller gets `status: "completed"`.
    public func respond(to update: WorkflowUpdate, with result: JSONValue) async throws {
        _ = try await step("respond", name: update.id, input: ["result": result])
    }

    /// Rejects `update` (a `respond` step with a failure): its caller gets `status: "rejected"`.
    public func reject(_ update: WorkflowUpdate, message: String, type: String = "Rejected", details: JSONValue? = nil)
        async throws
    {
        var failure: JSONObject = ["type": .string(type), "message": .string(message)]
        if let details { failure["details"] = details }
        _ = try await step("respond", name: update.id, input: ["failure": .object(failure)])
    }

    static let updateSignalPrefix = "update:"

    /// True when this execution runs the code after the patch `id` (docs/versioning.md): always for
    /// an execution that reaches this point with new code; false for one whose journal recorded
    /// another step here (it began under the code before the patch, and must keep its old path).
    /// Live, it records a marker (a `patch` step) so every replay answers the same.
    public func patched(_ id: String) async throws -> Bool {
        guard !id.isEmpty else { throw KeelError(.invalidParams, "a patch id must not be empty") }
        if let known = patches.withLock({ $0[id] }) { return known }
        // Decide and take the seq in one step, so a parallel step cannot take it in between.
        let decision: (seq: Int?, answer: Bool) = nextSeq.withLock { next in
            if let recorded = journal[next] {
                guard recorded["kind"]?.stringValue == "patch", recorded["name"]?.stringValue == id else { return (nil, false) }
                next += 1
                return (nil, true)
            }
            defer { next += 1 }
            return (next, true)
        }
        if let seq = decision.seq {
            _ = try await step(seq: seq, "patch", name: id, input: [:], options: nil)
        }
        patches.withLock { $0[id] = decision.answer }
        return decision.answer
    }

    /// For code from which the old path of patch `id` is gone, once no execution that began
    /// before the patch is open: records the marker like ``patched(_:)`` (so workers still
    /// running the `patched` code replay this execution down the new path) and accepts journals
    /// with or without it.
    public func deprecatePatch(_ id: String) async throws {
        _ = try await patched(id)
    }

    /// Ends this run and starts the execution over with `input` and an empty journal.
    public func continueAsNew(_ input: some Encodable) throws -> Never {
        throw ContinueAsNew(input: (try? JSONValue(encoding: input)) ?? .null)
    }
}

/// A started step: its sequence number is fixed; ``value`` waits for its outcome.
public struct StepFuture<Output: Decodable & Sendable>: Sendable {
    let context: WorkflowContext
    let seq: Int
    let kind: String
    let name: String
    let input: JSONValue
    let options: JSONValue?

    /// The step's decoded result.
    public var value: Output {
        get async throws {
            try await context.step(seq: seq, kind, name: name, input: input, options: options).decode(as: Output.self)
        }
    }
}

/// Thrown by a step the orchestrator answered with `suspend`: let it propagate.
public struct WorkflowSuspended: Error, Sendable {}

/// Thrown by ``WorkflowContext/continueAsNew(_:)``.
public struct ContinueAsNew: Error, Sendable {
    public var input: JSONValue
}

/// An update a workflow received (``WorkflowContext/waitForUpdate(_:timeout:)``): its id names the
/// answer.
public struct WorkflowUpdate: Sendable {
    public let id: String
    public let name: String
    public let input: JSONValue
}
