import Foundation
import KeelCore
import KeelProtocol
import NIOCore
import NIOPosix

/// One running MCP server and the JSON-RPC connection to it, after the handshake.
///
/// The connection is Keel's own (`RPCChannel` over the server's stdin and stdout): MCP's stdio
/// transport is newline-delimited JSON-RPC 2.0, the same framing as Keel's wire.
final class ServerSession: Sendable {
    let process: ServerProcess
    let connection: RPCConnection
    /// The revision the server answered in `initialize`.
    let protocolVersion: String
    /// The server's `serverInfo` and `capabilities` from `initialize`.
    let serverInfo: JSONValue
    let capabilities: JSONValue
    private let closeSignal: Locked<CheckedContinuation<Void, Never>?>
    private let served: Task<Void, Never>

    private init(
        process: ServerProcess, connection: RPCConnection, protocolVersion: String, serverInfo: JSONValue,
        capabilities: JSONValue, closeSignal: Locked<CheckedContinuation<Void, Never>?>, served: Task<Void, Never>
    ) {
        self.process = process
        self.connection = connection
        self.protocolVersion = protocolVersion
        self.serverInfo = serverInfo
        self.capabilities = capabilities
        self.closeSignal = closeSignal
        self.served = served
    }

    /// Starts `argv`, connects and runs the handshake: `initialize` asking for
    /// ``ProtocolVersion/latest`` (taking the server's answer if Keel speaks it), then
    /// `notifications/initialized`.
    /// - Throws: `KeelError(.unsupportedProtocolVersion)` for a revision Keel does not speak,
    ///   `.requestTimedOut` when the server does not answer within `handshakeTimeout`, or the server's error.
    static func start(
        argv: [String], handshakeTimeout: Duration, onToolsChanged: @escaping @Sendable () -> Void
    ) async throws -> ServerSession {
        let process = try ServerProcess.spawn(argv: argv)
        let limits = RPCChannel.Limits()
        let channel: NIOAsyncChannel<Frame, Never>
        do {
            channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .takingOwnershipOfDescriptors(input: process.stdoutRead, output: process.stdinWrite) {
                    RPCChannel.configure($0, limits: limits)
                }
        } catch {
            process.kill()
            _ = await process.waitForExit()
            throw KeelError(.internalError, "cannot connect to the MCP server's stdio: \(error)", cause: error)
        }
        let closeSignal = Locked<CheckedContinuation<Void, Never>?>(nil)
        let (connections, delivered) = AsyncStream.makeStream(of: RPCConnection.self)
        let handler = ServerRequests(onToolsChanged: onToolsChanged)
        let served = Task {
            _ = try? await RPCChannel.withConnection(channel, limits: limits, handler: handler) { connection in
                delivered.yield(connection)
                await withCheckedContinuation { continuation in closeSignal.withLock { $0 = continuation } }
                return true
            }
            delivered.finish()
            process.kill()
            _ = await process.waitForExit()
        }
        var iterator = connections.makeAsyncIterator()
        guard let connection = await iterator.next() else {
            throw KeelError(.connectionClosed, "the MCP server \(argv[0]) closed its stdout before the handshake")
        }
        let answer: JSONValue
        do {
            answer = try await Deadline.run(handshakeTimeout, what: "the MCP server's answer to initialize") {
                try await connection.call(
                    "initialize",
                    params: [
                        "protocolVersion": .string(ProtocolVersion.latest), "capabilities": ["roots": ["listChanged": false]],
                        "clientInfo": ["name": "keel", "version": "0.1.0"],
                    ])
            }
        } catch {
            process.kill()
            closeSignal.withLock { $0?.resume(); $0 = nil }
            throw error
        }
        let version = answer["protocolVersion"]?.stringValue ?? ""
        let session = ServerSession(
            process: process, connection: connection, protocolVersion: version, serverInfo: answer["serverInfo"] ?? .null,
            capabilities: answer["capabilities"] ?? .null, closeSignal: closeSignal, served: served)
        guard ProtocolVersion.supported.contains(version) else {
            await session.close()
            throw KeelError(
                .unsupportedProtocolVersion,
                "the MCP server \(argv[0]) answered protocol revision \"\(version)\"; Keel speaks \(ProtocolVersion.supported.joined(separator: ", "))")
        }
        connection.notify("notifications/initialized", params: [:])
        return session
    }

    /// Every tool, following `nextCursor` (at most `maxPages` pages).
    func listTools(timeout: Duration, maxPages: Int = 100) async throws -> [Tool] {
        var tools: [Tool] = []
        var cursor: String?
        for _ in 0..<maxPages {
            let params: JSONValue = cursor.map { ["cursor": .string($0)] } ?? [:]
            let page = try await Deadline.run(timeout, what: "the MCP server's answer to tools/list") {
                try await self.connection.call("tools/list", params: params)
            }
            tools += try (page["tools"]?.arrayValue ?? []).map(Tool.init(json:))
            guard let next = page["nextCursor"]?.stringValue, !next.isEmpty else { return tools }
            cursor = next
        }
        throw KeelError(.internalError, "the MCP server's tools/list did not end after \(maxPages) pages")
    }

    /// How one `tools/call` ended.
    enum CallEnd: Sendable {
        case answered(JSONValue)
        case failed(KeelError)
        case timedOut
        case cancelled
    }

    /// Calls `tool`, waiting at most `timeout`; polls `isCancelled` meanwhile. On a timeout or a
    /// cancel the request is abandoned and the server sent `notifications/cancelled`.
    func callTool(
        _ tool: String, arguments: JSONValue, meta: JSONValue, timeout: Duration, isCancelled: @escaping @Sendable () -> Bool
    ) async -> CallEnd {
        let id = connection.makeRequestID()
        let params: JSONValue = ["name": .string(tool), "arguments": arguments, "_meta": meta]
        let connection = self.connection
        let end = await withTaskGroup(of: CallEnd.self) { group in
            group.addTask {
                do {
                    return .answered(try await connection.call("tools/call", params: params, id: id))
                } catch let error as KeelError {
                    return .failed(error)
                } catch {
                    return .failed(KeelError(.internalError, "\(error)", cause: error))
                }
            }
            group.addTask {
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    if isCancelled() { return .cancelled }
                    do { try await Task.sleep(for: .milliseconds(50)) } catch { return .cancelled }
                }
                return .timedOut
            }
            let first = await group.next() ?? .cancelled
            switch first {
            case .timedOut, .cancelled:
                connection.abandon(id, with: CancellationError())
                let reason = if case .timedOut = first { "the activity's start-to-close timeout passed" } else { "cancelled by Keel" }
                connection.notify("notifications/cancelled", params: ["requestId": id.json, "reason": .string(reason)])
            default:
                break
            }
            group.cancelAll()
            return first
        }
        return end
    }

    /// True once the server closed its stdout (exited or crashed).
    var isClosed: Bool { connection.isClosed }

    /// Ends the session: closes the connection, kills the server's process group and reaps it.
    func close() async {
        process.kill()
        closeSignal.withLock { $0?.resume(); $0 = nil }
        connection.close()
        await served.value
    }
}
