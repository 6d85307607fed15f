import KeelCore
import KeelProtocol
import Synchronization

/// Serves the orchestrator's requests to a ``Worker``.
final class WorkerHandler: RPCHandler {
    let worker: Worker
    /// Running activity attempts by task id, so `activity/cancel` reaches them.
    let running = Mutex<[String: ActivityContext]>([:])

    init(worker: Worker) { self.worker = worker }

    func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue {
        switch method {
        case "activity/execute": return await execute(params, connection: connection)
        case "workflow/run": return await runWorkflow(params, connection: connection)
        case "ping": return [:]
        default: throw KeelError(.methodNotFound, "this worker serves no method \(method)")
        }
    }

    func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async {
        if method == "activity/cancel", let id = params["taskId"]?.stringValue {
            running.withLock { $0[id] }?.cancelled.store(true, ordering: .releasing)
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

    private func runWorkflow(_ params: JSONValue, connection: RPCConnection) async -> JSONValue {
        let name = params["name"]?.stringValue ?? ""
        guard let registration = worker.registry.withLock({ $0.workflows[name] }) else {
            return ["status": "failed", "failure": ActivityFailure("this worker has no workflow \(name)", type: "UnknownWorkflow").json]
        }
        let ctx = WorkflowContext(params: params, connection: connection)
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
