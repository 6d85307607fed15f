import KeelClient
import KeelCore

/// The bridge's MCP server: started on first use, started again after it exited or was killed
/// for not answering. Calls share one running server.
actor ServerHandle {
    let options: BridgeOptions
    let onToolsChanged: @Sendable () -> Void
    private var current: ServerSession?
    /// How many times a server was started (the first start included).
    private(set) var starts = 0

    init(options: BridgeOptions, onToolsChanged: @escaping @Sendable () -> Void) {
        self.options = options
        self.onToolsChanged = onToolsChanged
    }

    /// The running server, started (and handshaken) when there is none or it exited.
    func session() async throws -> ServerSession {
        if let current, !current.isClosed { return current }
        if let current { await current.close() }
        current = nil
        let session = try await ServerSession.start(
            argv: options.argv, mode: options.probeModernRevision ? .auto : .legacy, handshakeTimeout: options.handshakeTimeout, onToolsChanged: onToolsChanged)
        starts += 1
        if starts > 1 { Log.write("restarted the MCP server \(options.name) (pid \(session.process.pid))") }
        if starts == 1 { Log.write("\(options.name): the MCP server speaks revision \(session.protocolVersion)") }
        current = session
        return session
    }

    /// Kills `session` if it is still the current one; the next call starts a new server.
    func discard(_ session: ServerSession) async {
        guard current === session else { return }
        current = nil
        await session.close()
    }

    /// Stops the server.
    func close() async {
        if let current { await current.close() }
        current = nil
    }

    /// One attempt of `tool`: the output, or an `ActivityFailure` as data (docs/mcp.md).
    nonisolated func call(_ tool: Tool, input: JSONValue, context ctx: ActivityContext) async throws -> JSONValue {
        let session: ServerSession
        do {
            session = try await self.session()
        } catch {
            throw ActivityFailure(
                "cannot start the MCP server \(options.name): \(error)", type: ToolOutcome.exitedType, retryable: true)
        }
        let meta: JSONValue = ["keel.dev/idempotencyKey": .string(ctx.idempotencyKey), "keel.dev/attempt": JSONValue(ctx.attempt)]
        let end = await session.callTool(
            tool.name, arguments: input, meta: meta, timeout: options.callTimeout, isCancelled: { ctx.isCancelled })
        switch end {
        case .answered(let result):
            switch ToolOutcome.classify(
                result: result, tool: tool, retryToolErrors: options.retryToolErrors, errorTextPattern: options.errorTextPattern) {
            case .success(let output): return output
            case .failure(let failure): throw failure
            }
        case .failed(let error):
            if session.isClosed { await discard(session) }
            throw ToolOutcome.failure(for: error, tool: tool.name)
        case .timedOut:
            Log.write("the MCP server \(options.name) did not answer \(tool.name) within \(options.callTimeout): killing it")
            await discard(session)
            throw ActivityFailure(
                "the MCP server \(options.name) did not answer \(tool.name) within \(options.callTimeout); it was killed and is restarted",
                type: ToolOutcome.timeoutType, retryable: true)
        case .cancelled:
            throw ActivityFailure("cancelled by Keel", type: "Cancelled", retryable: false)
        }
    }
}
