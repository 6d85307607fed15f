public import KeelClient
import KeelCore
import KeelProtocol
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// `keel mcp serve`: an MCP server on this process's stdin and stdout whose tools are Keel's
/// activities and workflows (docs/mcp.md, "Keel as an MCP server").
public enum ToolServer {
    /// Connects to Keel, then serves MCP on stdio until the client closes stdin.
    /// - Parameters:
    ///   - sessionKey: part of the idempotency key derived from each request id; give the same one
    ///     to a restarted server for the same client so its repeated request ids find their calls.
    /// - Throws: `KeelError(.connectionClosed)` when Keel cannot be reached at the start.
    public static func run(endpoints: [Endpoint], sessionKey: String) async throws {
        let keel = try await ReconnectingClient.connect(endpoints, name: "keel-mcp", reconnectTimeout: .seconds(120))
        let handler = ToolServerHandler(keel: keel, sessionKey: sessionKey)
        let input = dup(0)
        let output = dup(1)
        dup2(2, 1)  // stdout is the wire: a stray print goes to stderr
        let limits = RPCChannel.Limits()
        let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .takingOwnershipOfDescriptors(input: input, output: output) { RPCChannel.configure($0, limits: limits) }
        await RPCChannel.serve(channel, limits: limits, setUp: { _ in handler }, tearDown: { _ in })
        await keel.close()
    }
}
