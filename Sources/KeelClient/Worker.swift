public import KeelCore
public import KeelProtocol
import Synchronization
import Dispatch
import Foundation

/// A Swift worker: serves activities and workflows to an orchestrator.
///
/// ```swift
/// let worker = Worker(name: "billing", endpoint: .unixSocket(path: "keel.sock"))
/// worker.activity("billing.charge") { (order: Order, ctx) in Receipt(orderId: order.id) }
/// worker.workflow("orders.fulfil") { (order: Order, ctx) in
///     let receipt: Receipt = try await ctx.activity("billing.charge", order)
///     try await ctx.sleep(for: .days(30))
///     return receipt
/// }
/// try await worker.run()
/// ```
public final class Worker: Sendable {
    public let name: String
    /// The first of ``endpoints``.
    public let endpoint: Endpoint
    /// Where ``run()`` connects, tried in order: when the connected node dies the worker moves to
    /// the next one and registers again (docs/clients.md "Several endpoints").
    public let endpoints: [Endpoint]
    public let maxConcurrent: Int
    let registry = Locked(Registrations())

    struct Registrations {
        var activities: [String: ActivityRegistration] = [:]
        var workflows: [String: WorkflowRegistration] = [:]
        /// Registration order, which `worker/register` keeps.
        var activityOrder: [String] = []
        var workflowOrder: [String] = []
        /// Update contracts (`worker/register`'s `updates`), in declaration order.
        var updates: [JSONValue] = []
    }

    struct ActivityRegistration: Sendable {
        var contract: JSONValue
        var body: @Sendable (JSONValue, ActivityContext) async throws -> JSONValue
    }

    struct WorkflowRegistration: Sendable {
        var contract: JSONValue
        var body: @Sendable (JSONValue, WorkflowContext) async throws -> JSONValue
    }

    /// The reconnect backoff of ``run()`` (docs/clients.md "Reconnecting").
    public let reconnectBackoff: ReconnectBackoff

    /// True when `worker/register` accepts breaking changes (by `keel schema diff` rules) to the
    /// owned contracts this worker declares (docs/security.md, "Owned contracts").
    public let allowBreakingChanges: Bool

    /// The build of the code this worker runs (docs/versioning.md): an execution first run by a
    /// build keeps running on workers of that build. Defaults to `KEEL_BUILD_ID`; nil: unversioned.
    public let buildId: String?
    /// Older builds whose executions this worker can continue (its code replays theirs).
    public let compatibleBuildIds: [String]

    /// - Parameters:
    ///   - maxConcurrent: activity attempts the orchestrator may run here at once.
    ///   - reconnectBackoff: waits between reconnect attempts (full jitter, 100 ms doubling to 2 s).
    ///   - allowBreakingChanges: register even when a declared contract breaks the one the
    ///     orchestrator holds for that name (without it, such a registration fails with 2005).
    ///   - buildId: this worker's build (default: `KEEL_BUILD_ID`, if set and not empty).
    ///   - compatibleBuildIds: older builds whose executions this worker may continue.
    public convenience init(
        name: String, endpoint: Endpoint, maxConcurrent: Int = 16, reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
        allowBreakingChanges: Bool = false, buildId: String? = nil, compatibleBuildIds: [String] = []
    ) {
        self.init(
            name: name, endpoints: [endpoint], maxConcurrent: maxConcurrent, reconnectBackoff: reconnectBackoff,
            allowBreakingChanges: allowBreakingChanges, buildId: buildId, compatibleBuildIds: compatibleBuildIds)
    }

    /// A worker given several endpoints, tried in order (e.g. `Endpoint.listFromEnvironment`);
    /// an empty list means `./keel.sock`. Other parameters as in ``init(name:endpoint:maxConcurrent:reconnectBackoff:allowBreakingChanges:)``.
    public init(
        name: String, endpoints: [Endpoint], maxConcurrent: Int = 16, reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
        allowBreakingChanges: Bool = false, buildId: String? = nil, compatibleBuildIds: [String] = []
    ) {
        let fromEnvironment = ProcessInfo.processInfo.environment["KEEL_BUILD_ID"].flatMap { $0.isEmpty ? nil : $0 }
        self.buildId = buildId ?? fromEnvironment
        self.compatibleBuildIds = compatibleBuildIds
        self.name = name
        self.endpoints = EndpointRing(endpoints).endpoints
        self.endpoint = self.endpoints[0]
        self.maxConcurrent = maxConcurrent
        self.reconnectBackoff = reconnectBackoff
        self.allowBreakingChanges = allowBreakingChanges
    }

    /// Registers an activity with Codable input and output; schemas default to `true` (anything).
    public func activity<Input: Decodable, Output: Encodable>(
        _ name: String, input: JSONValue? = nil, output: JSONValue? = nil, description: String? = nil,
        retryPolicy: JSONValue? = nil, timeouts: JSONValue? = nil,
        _ body: @escaping @Sendable (Input, ActivityContext) async throws -> Output
    ) {
        var contract: [String: JSONValue] = ["name": .string(name)]
        if let description { contract["description"] = .string(description) }
        if let input { contract["input"] = input }
        if let output { contract["output"] = output }
        if let retryPolicy { contract["retryPolicy"] = retryPolicy }
        if let timeouts { contract["timeouts"] = timeouts }
        let registration = ActivityRegistration(contract: .object(contract)) { value, ctx in
            try JSONValue(encoding: try await body(try value.decode(as: Input.self), ctx))
        }
        registry.withLock {
            if $0.activities[name] == nil { $0.activityOrder.append(name) }
            $0.activities[name] = registration
        }
    }

    /// Registers a workflow: an async function whose durable steps go through `ctx`.
    public func workflow<Input: Decodable, Output: Encodable>(
        _ name: String, input: JSONValue? = nil, output: JSONValue? = nil,
        _ body: @escaping @Sendable (Input, WorkflowContext) async throws -> Output
    ) {
        var contract: [String: JSONValue] = ["name": .string(name)]
        if let input { contract["input"] = input }
        if let output { contract["output"] = output }
        let registration = WorkflowRegistration(contract: .object(contract)) { value, ctx in
            try JSONValue(encoding: try await body(try value.decode(as: Input.self), ctx))
        }
        registry.withLock {
            if $0.workflows[name] == nil { $0.workflowOrder.append(name) }
            $0.workflows[name] = registration
        }
    }

    /// Declares the contract of update `name` (docs/protocol.md, "Updates"): Keel checks a
    /// `workflow/update`'s input against `input` before delivering it, and the answer a workflow
    /// gives with ``WorkflowContext/respond(to:with:)`` against `output` before recording it.
    public func updateContract(_ name: String, input: JSONValue? = nil, output: JSONValue? = nil) {
        var contract: JSONObject = ["name": .string(name)]
        if let input { contract["input"] = input }
        if let output { contract["output"] = output }
        registry.withLock { $0.updates.append(.object(contract)) }
    }

    /// Connects, registers and serves until the task is cancelled; reconnects with full-jitter
    /// exponential backoff (``reconnectBackoff``, reset after each successful `initialize`) when
    /// the orchestrator goes away. With several ``endpoints`` a failure moves to the next one at
    /// once; the backoff is waited once every endpoint has failed in a row.
    /// - Throws: a refusal that retrying cannot change (``fatalCodes``, docs/clients.md):
    ///   `KeelError(.unauthorized)` when the orchestrator refuses this worker's credential or role
    ///   (docs/security.md), `.unsupportedProtocolVersion`, or `.contractConflict` (a declared
    ///   contract conflicts with a connected worker's, or breaks the owned one without
    ///   ``allowBreakingChanges``; `data.breakingChanges` lists why).
    public func run() async throws {
        if case .stdio = endpoint {
            // Spawned by the orchestrator: one connection; its end (stdin closed) ends the worker.
            do {
                try await runOnce()
            } catch let error as KeelError where Self.fatalCodes.contains(error.code) {
                throw error
            } catch {}
            return
        }
        var backoff = reconnectBackoff
        var ring = EndpointRing(endpoints)
        while !Task.isCancelled && !draining.isSet {
            let initialized = Flag()
            do {
                try await runOnce(at: ring.current, onInitialized: initialized)
            } catch is CancellationError {
                return
            } catch let error as KeelError where Self.fatalCodes.contains(error.code) {
                throw error
            } catch {
                if Task.isCancelled { return }
            }
            if initialized.isSet {  // Keel was back: start the backoff and the round over
                backoff.reset()
                ring.succeeded()
            }
            if !ring.failed() { continue }  // the next endpoint at once; wait only after a whole round
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// Refusals that end ``run()`` instead of a reconnect: the same in every Keel client library.
    public static let fatalCodes: Set<KeelError.Code> = [.unauthorized, .unsupportedProtocolVersion, .contractConflict]

    /// One connection: register, then serve until it closes.
    public func runOnce(onRegistered: (@Sendable (String) -> Void)? = nil) async throws {
        try await runOnce(at: endpoint, onInitialized: nil, onRegistered: onRegistered)
    }

    /// ``runOnce(onRegistered:)`` at `endpoint` that also sets `onInitialized` once `initialize` succeeded.
    func runOnce(at endpoint: Endpoint, onInitialized: Flag?, onRegistered: (@Sendable (String) -> Void)? = nil) async throws {
        let handler = WorkerHandler(worker: self)
        let registrations = registry.withLock { $0 }
        var params: [String: JSONValue] = [
            "name": .string(name), "language": "swift", "maxConcurrent": JSONValue(maxConcurrent),
            "activities": .array(registrations.activityOrder.compactMap { registrations.activities[$0]?.contract }),
            "workflows": .array(registrations.workflowOrder.compactMap { registrations.workflows[$0]?.contract }),
        ]
        if !registrations.workflows.isEmpty { params["maxConcurrentWorkflows"] = 1000 }
        if !registrations.updates.isEmpty { params["updates"] = .array(registrations.updates) }
        if allowBreakingChanges { params["allowBreakingChanges"] = true }
        if let buildId {
            params["buildId"] = .string(buildId)
            if !compatibleBuildIds.isEmpty { params["compatibleBuildIds"] = .array(compatibleBuildIds.map { .string($0) }) }
        }
        let registerParams = JSONValue.object(params)
        _ = try await KeelClient.withClient(endpoint, name: "keel-swift-worker", handler: handler) { client in
            onInitialized?.set()  // withClient runs this body once initialize succeeded
            let answer = try await client.call("worker/register", registerParams)
            onRegistered?(answer["workerId"]?.stringValue ?? "")
            // Until drained, or until the connection ends (this task is then cancelled).
            while !self.drained.isFired && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
            // Let the last answers (and the shutdown answer) reach the wire before closing.
            try? await Task.sleep(for: .milliseconds(100))
            return true
        }
    }

    /// Stops taking work, waits (up to `drainTimeout`) for running activities and workflow runs to
    /// answer, then ends ``run()``. Called on `shutdown` from the orchestrator and on SIGTERM.
    public func drain() {
        guard !draining.isSet else { return }
        draining.set()
        inFlight.whenZero(timeout: Self.drainTimeout) { [drained] in drained.fire() }
    }

    /// How long ``drain()`` waits for running work.
    public static let drainTimeout: Duration = .seconds(30)

    let draining = Flag()
    let drained = OneShotSignal()
    let inFlight = InFlightCounter()
}

/// What an activity attempt knows and can do.
public final class ActivityContext: Sendable {
    public let taskId: String
    public let attempt: Int
    public let idempotencyKey: String
    /// Details the previous attempt sent with its last heartbeat.
    public let heartbeatDetails: JSONValue?
    /// The W3C `traceparent` of Keel's span for this attempt, when tracing or the caller gave one:
    /// the parent of the activity's own spans (docs/traces.md).
    public let traceparent: String?
    /// The attempt's `attemptToken`, echoed in heartbeats (docs/security.md).
    let attemptToken: String?
    let connection: RPCConnection
    let cancelled = Atomic<Bool>(false)

    init(params: JSONValue, connection: RPCConnection) {
        taskId = params["taskId"]?.stringValue ?? ""
        attempt = Int(params["attempt"]?.int64Value ?? 1)
        idempotencyKey = params["idempotencyKey"]?.stringValue ?? taskId
        heartbeatDetails = params["heartbeatDetails"].flatMap { $0.isNull ? nil : $0 }
        attemptToken = params["attemptToken"]?.stringValue
        traceparent = params["traceparent"]?.stringValue
        self.connection = connection
    }

    /// True once the orchestrator cancelled this attempt.
    public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// Sleeps up to `duration`, waking early (returning true) when the attempt is cancelled.
    @discardableResult
    public func sleep(for duration: Duration) async -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            if isCancelled { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isCancelled
    }

    /// Reports progress; returns true when the activity was cancelled and should stop.
    @discardableResult
    public func heartbeat(_ details: JSONValue? = nil) async throws -> Bool {
        var params: [String: JSONValue] = [
            "taskId": .string(taskId), "attempt": JSONValue(attempt), "details": details ?? .null,
        ]
        if let attemptToken { params["attemptToken"] = .string(attemptToken) }
        let answer = try await connection.call("activity/heartbeat", params: .object(params))
        if answer["cancelled"]?.boolValue == true { cancelled.store(true, ordering: .releasing) }
        return isCancelled
    }

    /// Appends `event` to the stream of the workflow this activity runs for (`activity/publish`),
    /// e.g. a model's tokens as they come. A retried attempt publishes again; followers see each
    /// event's `attempt`.
    /// - Throws: `KeelError(.attemptSuperseded)` once this attempt no longer counts; `-32602`
    ///   for an activity called directly (`activity/call`), which has no stream.
    public func publish(_ event: JSONValue, name: String = "event") async throws {
        var params: [String: JSONValue] = [
            "taskId": .string(taskId), "attempt": JSONValue(attempt), "name": .string(name), "event": event,
        ]
        if let attemptToken { params["attemptToken"] = .string(attemptToken) }
        _ = try await connection.call("activity/publish", params: .object(params))
    }
}

/// A failure an activity or workflow reports as data: `{type, message, retryable, details}`.
public struct ActivityFailure: Error, Sendable {
    public var type: String
    public var message: String
    public var retryable: Bool
    public var retryAfterMs: Int64?
    public var details: JSONValue?

    public init(_ message: String, type: String = "ActivityFailure", retryable: Bool = true, retryAfterMs: Int64? = nil, details: JSONValue? = nil) {
        self.type = type
        self.message = message
        self.retryable = retryable
        self.retryAfterMs = retryAfterMs
        self.details = details
    }

    init(json: JSONValue) {
        self.init(json["message"]?.stringValue ?? "failed", type: json["type"]?.stringValue ?? "Error",
            retryable: json["retryable"]?.boolValue ?? false, retryAfterMs: json["retryAfterMs"]?.int64Value, details: json["details"])
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["type": .string(type), "message": .string(message), "retryable": .bool(retryable)]
        if let retryAfterMs { o["retryAfterMs"] = JSONValue(retryAfterMs) }
        if let details { o["details"] = details }
        return .object(o)
    }

    /// True for the failure a cancelled workflow sees at its current step.
    public var isCancellation: Bool { type == "Cancelled" }
}

/// Counts running work; calls back once it reaches zero (or a timeout passes).
final class InFlightCounter: Sendable {
    private let state = Locked<(count: Int, onZero: (@Sendable () -> Void)?)>((0, nil))

    func enter() { state.withLock { $0.count += 1 } }

    func leave() {
        let callback = state.withLock { s -> (@Sendable () -> Void)? in
            s.count -= 1
            guard s.count == 0, let cb = s.onZero else { return nil }
            s.onZero = nil
            return cb
        }
        callback?()
    }

    func whenZero(timeout: Duration, _ callback: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.count == 0 { return true }
            s.onZero = callback
            return false
        }
        if now { callback(); return }
        let seconds = Double(timeout.components.seconds)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { callback() }
    }
}
