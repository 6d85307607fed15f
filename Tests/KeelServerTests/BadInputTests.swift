import Foundation
import KeelClient
import KeelCore
import KeelTesting
import KeelServer
import KeelProtocol
import Logging
import Testing

@Suite("Bad input over a real socket", .serialized, .timeLimit(.minutes(3)))
struct BadInputTests {
    func withRaw(_ body: @escaping @Sendable (RawSocket, Endpoint) async throws -> Void) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.limits.maxFrameBytes = 4096
                $0.limits.maxPendingWriteBytes = 1 << 20
            }) { endpoint, _ in
                let raw = try RawSocket(path: dir.file("k.sock"))
                try await body(raw, endpoint)
                // Whatever happened, the orchestrator still serves a well-behaved client.
                let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                #expect(pong == [:])
            }
        }
    }

    @Test(arguments: [
        ("{not json", -32700, JSONValue.null),
        ("42", -32600, .null),
        (#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#, -32600, 5),
        (#"{"jsonrpc":"2.0","id":6,"method":"no/such"}"#, -32601, 6),
        (#"{"jsonrpc":"2.0","id":7,"method":"activity/call","params":{}}"#, -32602, 7),
        (#"{"jsonrpc":"2.0","id":8,"method":"activity/call","params":{"name":5}}"#, -32602, 8),
        (#"{"jsonrpc":"2.0","id":9,"method":"activity/call","params":[1,2]}"#, -32602, 9),
        ("\u{1}\u{2}garbage\u{7f}", -32700, .null),
        ("[]", -32600, .null),
    ])
    func eachBadLineGetsTheSpecErrorAndTheConnectionStaysUp(_ line: String, _ code: Int, _ id: JSONValue) async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send(line + "\n")
            let answer = await raw.readLine()
            #expect(answer?["error"]?["code"]?.int64Value == Int64(code), "\(line) → \(String(describing: answer))")
            #expect(answer?["id"] == id)
            await raw.send(#"{"jsonrpc":"2.0","id":"after","method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == "after")
        }
    }

    @Test func requestsBeforeInitializeAreRefused() async throws {
        try await withRaw { raw, _ in
            await raw.send(#"{"jsonrpc":"2.0","id":1,"method":"worker/list"}"# + "\n")
            #expect(await raw.readLine()?["error"]?["code"] == -32000)
        }
    }

    @Test func anUnsupportedProtocolVersionIsRefusedWithTheSupportedList() async throws {
        try await withRaw { raw, _ in
            await raw.send(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"99"}}"# + "\n")
            let a = await raw.readLine()
            #expect(a?["error"]?["code"] == -32001)
            #expect(a?["error"]?["data"]?["supported"] == ["1"])
        }
    }

    @Test func anOversizedLineGetsACodedErrorAndTheNextLineIsServed() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send("{\"x\":\"" + String(repeating: "a", count: 100_000) + "\"}\n")
            #expect(await raw.readLine()?["error"]?["code"] == -32002)
            await raw.send(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == 2)
        }
    }

    @Test func notificationsAndResponsesToUnknownIdsGetNoAnswer() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send(#"{"jsonrpc":"2.0","method":"whatever","params":{}}"# + "\n")
            await raw.send(#"{"jsonrpc":"2.0","id":12345,"result":{"x":1}}"# + "\n")
            await raw.send(#"{"jsonrpc":"2.0","id":3,"method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == 3)
        }
    }

    @Test func aBatchIsAnsweredWithOneArrayOfResponses() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send(#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":2,"method":"nope"},{"bad":1}]"# + "\n")
            let answers = await raw.readLine()?.arrayValue ?? []
            #expect(answers.count == 3)
            #expect(answers.contains { $0["id"] == 1 && $0["result"] == [:] })
            #expect(answers.contains { $0["id"] == 2 && $0["error"]?["code"] == -32601 })
            #expect(answers.contains { $0["error"]?["code"] == -32600 })
        }
    }

    @Test func stringAndNumberIdsAreEchoedExactly() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send(#"{"jsonrpc":"2.0","id":"abc-1","method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == "abc-1")
            await raw.send(#"{"jsonrpc":"2.0","id":-17,"method":"ping"}"# + "\n")
            #expect(await raw.readLine()?["id"] == -17)
        }
    }

    @Test func aPartialLineThenCloseLeavesTheServerServing() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            await raw.send(#"{"jsonrpc":"2.0","id":1,"meth"#)
            raw.shutdownWrite()
            #expect(await raw.isClosedByPeer())
        }
    }

    @Test func tenThousandRequestsInABurstAreAllAnswered() async throws {
        try await withRaw { raw, _ in
            await raw.initialize()
            var burst = ""
            for i in 0..<10_000 { burst += "{\"jsonrpc\":\"2.0\",\"id\":\(i),\"method\":\"ping\"}\n" }
            let sender = Task { await raw.send(burst) }
            var seen = Set<Int64>()
            while seen.count < 10_000, let line = await raw.readLine() {
                if let id = line["id"]?.int64Value { seen.insert(id) }
            }
            _ = await sender.value
            #expect(seen.count == 10_000)
        }
    }

    @Test func aClientThatNeverReadsIsNoLongerReadWithoutHurtingOthers() async throws {
        try await withRaw { raw, endpoint in
            await raw.initialize()
            // Each request's answer is small, so flood enough of them to pass the socket buffers.
            let line = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"worker/list\"}\n"
            let flood = String(repeating: line, count: 20_000)
            let sender = Task.detached { for _ in 0..<10 { await raw.send(flood) } }
            // Meanwhile another client is served promptly.
            for _ in 0..<20 {
                let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                #expect(pong == [:])
            }
            sender.cancel()
        }
    }
}

@Suite("Transports", .serialized, .timeLimit(.minutes(3)))
struct TransportTests {
    @Test func theUnixSocketIsCreatedOwnerOnly() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { _, _ in
                let attributes = try FileManager.default.attributesOfItem(atPath: dir.file("k.sock"))
                #expect((attributes[.posixPermissions] as? Int) == 0o600)
            }
        }
    }

    @Test func aStaleSocketFileIsReplacedAndALiveOneRefused() async throws {
        try await TemporaryDirectory.with { dir in
            // A stale socket: bound by a process that is gone (here: a closed listener).
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                let bytes = Array(dir.file("k.sock").utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            close(fd)
            #expect(FileManager.default.fileExists(atPath: dir.file("k.sock")))
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let pong = try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
                #expect(pong == [:])
                // A second orchestrator on the same live socket is refused with a clear message.
                let dir2 = try TemporaryDirectory()
                defer { dir2.remove() }
                var options = KeelServer.Options(databasePath: dir2.file("keel.db"))
                options.socketPath = dir.file("k.sock")
                let second = KeelServer(options: options, logger: .init(label: "second"))
                do {
                    try await second.run()
                    Issue.record("a second server bound a live socket")
                } catch let e as KeelError {
                    #expect(e.message.contains("another process is serving"))
                }
            }
        }
    }

    @Test func tcpNeedsTheRightTokenInInitialize() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.tcpAddress = ("127.0.0.1", 0)
                $0.token = "s3cret-s3cret-s3cret"
            }) { _, server in
                let port = try await server.ready().tcpPort!
                let pong = try await KeelClient.withClient(.tcp(host: "127.0.0.1", port: port, token: "s3cret-s3cret-s3cret")) {
                    try await $0.call("ping")
                }
                #expect(pong == [:])
                do {
                    _ = try await KeelClient.withClient(.tcp(host: "127.0.0.1", port: port, token: "wrong")) {
                        try await $0.call("ping")
                    }
                    Issue.record("a wrong token was accepted")
                } catch let e as KeelError {
                    #expect(e.code == .unauthorized)
                }
            }
        }
    }
}
