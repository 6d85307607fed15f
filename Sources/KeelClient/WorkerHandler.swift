import KeelCore
import KeelProtocol
import Synchronization

/// Serves the orchestrator's requests to a ``Worker``.
final class WorkerHandler: RPCHandler {
    let worker: Worker
    /// Running activity attempts by task id, so `activity/cancel` reaches them.
    let running = Locked<[String: ActivityContext]>([:])
    /// Live workflow runs, so `workflow/cancel` stops them.
    let runs = LiveRuns()

    /// Work requests refused because they arrived after `shutdown` (keyed by task or run).
    let refused = Locked<Set<String>>([])

    init(worker: Worker) { self.worker = worker }

    static func workKey(_ method: String, _ params: JSONValue) -> String {
        method == "activity/execute"
            ? "t/\(params["taskId"]?.stringValue ?? "")/\(params["attempt"]?.int64Value ?? 0)"
            : "w/\(params["workflowId"]?.stringValue ?? "")/\(params["runId"]?.int64Value ?? 0)"
    }

    /// Counted work leaves the drain count only once its answer is on its way.
    func answered(_ inbound: RPCInbound, connection: RPCConnection) {
        guard case .request(_, let method, let params) = inbound, method == "activity/execute" || method == "workflow/run"
        else { return }
        if refused.withLock({ $0.remove(Self.workKey(method, params)) }) == nil { worker.inFlight.leave() }
    }

    /// In wire order: work that arrives before `shutdown` is counted and finished; after, refused.
    func received(_ inbound: RPCInbound, connection: RPCConnection) {
        switch inbound {
        case .request(_, let method, let params) where method == "activity/execute" || method == "workflow/run":
            if worker.draining.isSet {
                refused.withLock { _ = $0.insert(Self.workKey(method, params)) }
            } else {
                worker.inFlight.enter()
            }
        case .notification(let method, _) where method == "shutdown":
            worker.drain()
        case .request(_, let method, _) where method == "shutdown":
            worker.drain()
        default:
            break
        }
    }

    func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        switch method {
        case "activity/execute", "workflow/run":
            guard !refused.withLock({ $0.contains(Self.workKey(method, params)) }) else {
                throw KeelError(.shuttingDown, "this worker is shutting down; run it elsewhere")
            }
            return method == "activity/execute"
                ? await execute(params, connection: connection) : try await runWorkflow(params, connection: connection)
        case "ping": return [:]
        case "shutdown":
            await worker.drained.wait()
            return [:]
        default: throw KeelError(.methodNotFound, "this worker serves no method \(method)")
        }
    }

    func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {
        switch method {
        case "activity/cancel":
            if let id = params["taskId"]?.stringValue {
                running.withLock { $0[id] }?.cancelled.store(true, ordering: .releasing)
            }
        case "workflow/cancel":
            // Keel ended the execution (terminated, timed out): stop the run; its answer is ignored.
            if let id = params["workflowId"]?.stringValue, let runId = params["runId"]?.int64Value {
                runs.stop(workflowId: id, runId: Int(runId), reason: params["reason"]?.stringValue ?? "the workflow ended")
            }
        default:
            break
        }
    }

    private func execute(_ params: JSONValue, connection: RPCConnection) async -> JSONValue {
        let name = params["name"]?.stringValue ?? ""
        guard let registration = worker.registry.withLock({ $0.activities[name] }) else {
            return ["failure": ActivityFailure("this worker has no activity \(name)", type: "UnknownActivity").json]
        }
        let ctx = ActivityContext(params: params, connection: connection)
        running.withLock { $0[ctx.taskId] = ctx }
        defer { running.withLock { _ = $0.removeValue(forKey: ctx.taskId) } }
        do {
            return ["output": try await registration.body(params["input"] ?? .null, ctx)]
        } catch let failure as ActivityFailure {
            return ["failure": failure.json]
        } catch {
            // An uncaught error is retryable, typed by its Swift type (STYLE.md §4).
            return ["failure": ActivityFailure("\(error)", type: String(describing: Swift.type(of: error))).json]
        }
    }

    /// Runs a workflow until it answers, or until `workflow/cancel` stops it (then throws 2006).
    private func runWorkflow(_ params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        let name = params["name"]?.stringValue ?? ""
        guard let registration = worker.registry.withLock({ $0.workflows[name] }) else {
            return ["status": "failed", "failure": ActivityFailure("this worker has no workflow \(name)", type: "UnknownWorkflow").json]
        }
        let ctx = WorkflowContext(params: params, connection: connection)
        let answer = try await runs.run(ctx) { await Self.answer(registration, params, ctx) }
        // The worker is stopping (its task cancelled): a run cut short by that is not the
        // workflow's failure. Answer an error instead, and Keel runs it again elsewhere.
        if Task.isCancelled, answer["status"] == "failed" { throw CancellationError() }
        return answer
    }

    /// Runs the workflow code and turns its end into the `workflow/run` answer.
    private static func answer(_ registration: Worker.WorkflowRegistration, _ params: JSONValue, _ ctx: WorkflowContext) async -> JSONValue {
        do {
            let output = try await registration.body(params["input"] ?? .null, ctx)
            return ["status": "completed", "output": output]
        } catch is WorkflowSuspended {
            return ["status": "suspended"]
        } catch let next as ContinueAsNew {
            return ["status": "continueAsNew", "input": next.input]
        } catch let failure as ActivityFailure {
            return ["status": "failed", "failure": failure.json]
        } catch is CancellationError where ctx.suspended {
            return ["status": "suspended"]
        } catch {
            return ["status": "failed", "failure": ActivityFailure("\(error)", type: String(describing: Swift.type(of: error)), retryable: false).json]
        }
    }
}
