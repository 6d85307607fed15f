import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelServer
import KeelTesting
import Testing

/// Issue 10, item 4: what a peer that has not completed `initialize` can cost the orchestrator.
@Suite("Limits before initialize", .serialized, .timeLimit(.minutes(2)))
struct PreAuthLimitTests {
    static let ping = #"{"jsonrpc":"2.0","id":"p","method":"ping"}"# + "\n"

    /// An orchestrator with a TCP listener (token `s3cret-token-for-tests`) next to its Unix socket.
    func withTCP(
        configure: @escaping (inout KeelServer.Options) -> Void = { _ in },
        _ body: @escaping @Sendable (_ port: Int, _ unix: String, Endpoint) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.tcpAddress = ("127.0.0.1", 0)
                $0.token = "s3cret-token-for-tests"
                configure(&$0)
            }) { endpoint, server in
                let port = try await server.ready().tcpPort!
                try await body(port, dir.file("k.sock"), endpoint)
                // Whatever happened, the orchestrator still serves a well-behaved client.
                let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                #expect(pong == [:])
            }
        }
    }

    static func initialize(token: String) -> String {
        #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"1","token":"\#(token)"}}"# + "\n"
    }

    @Test func aLineOverTheHandshakeLimitIsRefusedBeforeInitializeAndAcceptedAfter() async throws {
        try await withTCP { port, _, _ in
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            let big = #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""# + String(repeating: "a", count: 100_000) + "\"}}\n"
            await raw.send(big)
            let refused = await raw.readLine()
            #expect(refused?["error"]?["code"] == -32002, "\(String(describing: refused))")
            await raw.send(Self.initialize(token: "s3cret-token-for-tests"))
            #expect(await raw.readLine()?["result"]?["protocolVersion"] == "1")
            await raw.send(big)
            #expect(await raw.readLine()?["result"] == [:])
        }
    }

    @Test func aBatchBeforeInitializeIsRefusedWhole() async throws {
        try await withTCP { port, _, _ in
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            await raw.send(#"[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"token":"s3cret-token-for-tests"}},{"jsonrpc":"2.0","id":2,"method":"ping"}]"# + "\n")
            let answer = await raw.readLine()
            #expect(answer?["error"]?["code"] == -32000, "\(String(describing: answer))")
            #expect(answer?["id"] == .null)
            await raw.send(Self.initialize(token: "s3cret-token-for-tests"))
            #expect(await raw.readLine()?["result"]?["protocolVersion"] == "1")
            await raw.send(#"[{"jsonrpc":"2.0","id":3,"method":"ping"}]"# + "\n")
            #expect(await raw.readLine()?.arrayValue?.first?["id"] == 3)
        }
    }

    @Test func aBatchOverTheItemCapIsRefusedAndAnOversizedReplyIsReplacedByOneError() async throws {
        try await withTCP(configure: {
            $0.limits.maxFrameBytes = 256 * 1024
            $0.limits.maxBatchItems = 4096
        }) { _, unix, _ in
            let raw = try RawSocket(path: unix)
            await raw.initialize()
            // 5,000 items: over the item cap; nothing runs, one coded error.
            await raw.send("[" + Array(repeating: "1", count: 5_000).joined(separator: ",") + "]\n")
            let tooMany = await raw.readLine()
            #expect(tooMany?["error"]?["code"] == -32010, "\(String(describing: tooMany))")
            #expect(tooMany?["error"]?["data"]?["limit"] == 4096)
            // 4,000 invalid items: each answer is ~100 bytes, so the reply would pass 256 KiB.
            await raw.send("[" + Array(repeating: "1", count: 4_000).joined(separator: ",") + "]\n")
            let tooBig = await raw.readLine()
            #expect(tooBig?["error"]?["code"] == -32002, "\(String(describing: tooBig))")
            #expect(tooBig?["error"]?["data"]?["reply"] == true)
            await raw.send(Self.ping)
            #expect(await raw.readLine()?["id"] == "p")
        }
    }

    @Test func anIdleConnectionIsClosedAtTheHandshakeDeadlineWithACodedError() async throws {
        try await withTCP(configure: { $0.connections.handshakeTimeoutMs = 3_000 }) { port, unix, _ in
            for raw in [try RawSocket(host: "127.0.0.1", port: port), try RawSocket(path: unix)] {
                raw.setReceiveTimeout(seconds: 30)
                let answer = await raw.readLine()
                #expect(answer?["error"]?["code"] == -32008, "\(String(describing: answer))")
                #expect(await raw.isClosedByPeer())
            }
            // A connection that initialized in time is not closed at the deadline.
            let kept = try RawSocket(path: unix)
            await kept.initialize()
            try await Task.sleep(for: .milliseconds(4_000))
            await kept.send(Self.ping)
            #expect(await kept.readLine()?["id"] == "p")
        }
    }

    @Test func theConnectionPastThePerPeerCapIsRefusedAndTheServerKeepsServing() async throws {
        try await withTCP(configure: { $0.connections.maxConnectionsPerPeer = 3 }) { port, _, _ in
            var open: [RawSocket] = []
            for _ in 0..<3 {
                let raw = try RawSocket(host: "127.0.0.1", port: port)
                await raw.send(Self.initialize(token: "s3cret-token-for-tests"))
                #expect(await raw.readLine()?["result"] != nil)
                open.append(raw)
            }
            let extra = try RawSocket(host: "127.0.0.1", port: port)
            let refusal = await extra.readLine()
            #expect(refusal?["error"]?["code"] == -32009, "\(String(describing: refusal))")
            #expect(refusal?["error"]?["data"]?["scope"] == "peer")
            #expect(await extra.isClosedByPeer())
            // The admitted ones still work; once one closes, a new one is admitted.
            await open[0].send(Self.ping)
            #expect(await open[0].readLine()?["id"] == "p")
            open.removeLast()
            let admitted = try await eventually(timeout: .seconds(30)) {
                (try? await KeelClient.withClient(.tcp(host: "127.0.0.1", port: port, token: "s3cret-token-for-tests")) {
                    try await $0.call("ping")
                }) != nil
            }
            #expect(admitted)
        }
    }

    @Test func failedTokenChecksAreThrottledPerPeer() async throws {
        try await withTCP(configure: { $0.connections.maxAuthFailuresPerMinute = 3 }) { port, _, endpoint in
            for _ in 0..<3 {
                let raw = try RawSocket(host: "127.0.0.1", port: port)
                await raw.send(Self.initialize(token: "wrong"))
                #expect(await raw.readLine()?["error"]?["code"] == -32004)
                #expect(await raw.isClosedByPeer())
            }
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            let refusal = await raw.readLine()
            #expect(refusal?["error"]?["code"] == -32011, "\(String(describing: refusal))")
            #expect((refusal?["error"]?["data"]?["retryAfterMs"]?.int64Value ?? 0) > 0)
            #expect(await raw.isClosedByPeer())
            // The Unix socket (no address, no token) is not throttled.
            let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
            #expect(pong == [:])
        }
    }
}
