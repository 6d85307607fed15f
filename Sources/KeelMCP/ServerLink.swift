import KeelCore
import KeelProtocol
import NIOCore
import NIOPosix

/// A started MCP server and the JSON-RPC connection over its stdin and stdout, before any
/// handshake. The connection is Keel's own (`RPCChannel`): MCP's stdio transport is
/// newline-delimited JSON-RPC 2.0, the same framing as Keel's wire.
final class ServerLink: Sendable {
    let process: ServerProcess
    let connection: RPCConnection
    private let closeSignal: Locked<CheckedContinuation<Void, Never>?>
    private let served: Task<Void, Never>

    private init(
        process: ServerProcess, connection: RPCConnection, closeSignal: Locked<CheckedContinuation<Void, Never>?>,
        served: Task<Void, Never>
    ) {
        self.process = process
        self.connection = connection
        self.closeSignal = closeSignal
        self.served = served
    }

    /// Starts `argv` and connects to its stdio; `handler` answers what the server asks.
    static func open(argv: [String], handler: some RPCHandler) async throws -> ServerLink {
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
            await served.value
            throw KeelError(.connectionClosed, "the MCP server \(argv[0]) closed its stdout before the handshake")
        }
        return ServerLink(process: process, connection: connection, closeSignal: closeSignal, served: served)
    }

    /// True once the server closed its stdout (exited or crashed).
    var isClosed: Bool { connection.isClosed }

    /// Closes the connection, kills the server's process group and reaps it.
    func close() async {
        process.kill()
        closeSignal.withLock {
            $0?.resume()
            $0 = nil
        }
        connection.close()
        await served.value
    }
}
