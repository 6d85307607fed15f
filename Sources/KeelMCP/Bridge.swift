public import KeelClient
import KeelCore
import Synchronization

/// Runs an MCP server as a Keel worker: each of its tools is an activity `mcp.NAME.TOOL` whose
/// input contract is the tool's `inputSchema` (docs/mcp.md, "MCP servers as workers").
public enum Bridge {
    /// How ``run(_:endpoints:)`` ended.
    public enum End: Sendable {
        /// The orchestrator closed the connection (or drained this worker).
        case disconnected
        /// The server said its tools changed: run again to register the new list.
        case toolsChanged
    }

    /// Starts the server, lists its tools, registers them and serves calls until the connection
    /// ends or the server's tool list changes.
    /// - Throws: the handshake's or `tools/list`'s failure, or a fatal refusal from Keel.
    public static func run(_ options: BridgeOptions, endpoints: [Endpoint]) async throws -> End {
        let changed = AsyncStream.makeStream(of: Void.self)
        let servers = ServerHandle(options: options) { changed.continuation.yield() }
        let tools: [Tool]
        do {
            tools = try await servers.session().listTools(timeout: options.handshakeTimeout)
        } catch {
            await servers.close()
            throw error
        }
        let worker = Worker(
            name: "mcp.\(options.name)", endpoints: endpoints, maxConcurrent: options.maxConcurrent,
            allowBreakingChanges: true)
        var registered: [String] = []
        for listed in tools {
            let (tool, problems) = listed.withUsableSchemas()
            if !problems.isEmpty {
                Log.write("\(options.name): Keel cannot compile \(problems.joined(separator: "; ")) of \(tool.name); registered as {\"type\": \"object\"}")
            }
            let name = options.activityName(tool.name)
            guard ActivityName.isValid(name) else {
                Log.write("skipped the tool \(tool.name) of \(options.name): \(name) is not a valid activity name")
                continue
            }
            worker.activity(
                name, input: tool.inputSchema, output: tool.outputContract, description: tool.description,
                retryPolicy: retryPolicy(for: tool, options: options),
                timeouts: ["startToCloseMs": JSONValue(options.startToCloseMs)]
            ) { (input: JSONValue, ctx: ActivityContext) async throws -> JSONValue in
                // Keel dispatches a task that was running when it crashed again, with the next
                // attempt number; for a tool that may not run twice the bridge refuses that attempt.
                if let limit = maximumAttempts(for: tool, options: options), limit > 0, ctx.attempt > limit {
                    throw ActivityFailure(
                        "attempt \(ctx.attempt) of \(name) refused: the tool is not annotated read-only or idempotent and an "
                            + "earlier attempt may have run (allow more with --max-attempts \(tool.name)=N)",
                        type: ToolOutcome.notRetriedType, retryable: false)
                }
                return try await servers.call(tool, input: input, context: ctx)
            }
            registered.append(name)
        }
        Log.write("\(options.name): \(registered.count) tools as activities: \(registered.joined(separator: ", "))")
        // On tools/list_changed the worker drains (the running calls answer, new ones are refused
        // and retried by Keel) and the bridge ends, to be started again with the new list.
        let toolsChanged = Locked(false)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await worker.run() } catch { Log.write("\(options.name): the worker stopped: \(error)") }
                changed.continuation.finish()
            }
            group.addTask {
                for await _ in changed.stream {
                    toolsChanged.withLock { $0 = true }
                    Log.write("\(options.name): the server's tool list changed; draining to register it again")
                    worker.drain()
                    return
                }
            }
            await group.waitForAll()
        }
        let end: End = toolsChanged.withLock { $0 } ? .toolsChanged : .disconnected
        await servers.close()
        return end
    }

    /// `maximumAttempts: 1` for a tool its annotations do not call retry-safe, unless overridden
    /// by name or by `*`; nil (Keel's default policy) otherwise.
    static func retryPolicy(for tool: Tool, options: BridgeOptions) -> JSONValue? {
        maximumAttempts(for: tool, options: options).map { ["maximumAttempts": JSONValue($0)] }
    }

    /// The attempts the bridge allows `tool` (nil: no bound of its own; 0 means unlimited too).
    static func maximumAttempts(for tool: Tool, options: BridgeOptions) -> Int? {
        if let attempts = options.maximumAttempts[tool.name] ?? options.maximumAttempts["*"] { return attempts }
        return tool.isRetrySafe ? nil : 1
    }
}

/// The rule for the names work is addressed to (docs/protocol.md, `worker/register`).
enum ActivityName {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 200 else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { ("A"..."Z").contains(c) || ("a"..."z").contains(c) || c == "_" }
        return letter(first)
            && name.unicodeScalars.allSatisfy { letter($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" }
    }
}
