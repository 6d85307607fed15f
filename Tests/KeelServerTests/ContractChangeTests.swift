import Foundation
import KeelClient
import KeelCore
import KeelServer
import KeelTesting
import Testing

/// The contracts a test registers for `greet.hello`, one version after another.
enum GreetContracts {
    /// Version 1: input `{to}`, output `{greeting}` (required).
    static let v1: JSONValue = [
        "name": "greet.hello",
        "input": ["type": "object", "properties": ["to": ["type": "string"]]],
        "output": ["type": "object", "required": ["greeting"], "properties": ["greeting": ["type": "string"]]],
    ]
    /// Compatible with v1 (by what the schemas accept, docs/schema.md): input `to` may also be
    /// null (callers' inputs stay valid); output gains an optional `lang` (consumers' reads stay valid).
    /// (Adding a typed `lang` to the open *input* would break: `{"lang": 0}` was valid.)
    static let v2: JSONValue = [
        "name": "greet.hello",
        "input": ["type": "object", "properties": ["to": ["type": ["string", "null"]]]],
        "output": [
            "type": "object", "required": ["greeting"],
            "properties": ["greeting": ["type": "string"], "lang": ["type": "string"]],
        ],
    ]
    /// Compatible with v2: the output's `lang` is now always there.
    static let v3: JSONValue = [
        "name": "greet.hello",
        "input": ["type": "object", "properties": ["to": ["type": ["string", "null"]]]],
        "output": [
            "type": "object", "required": ["greeting", "lang"],
            "properties": ["greeting": ["type": "string"], "lang": ["type": "string"]],
        ],
    ]
    /// Breaks v1: input `to` now required (callers), output `greeting` removed (consumers).
    static let breaking: JSONValue = [
        "name": "greet.hello",
        "input": ["type": "object", "required": ["to"], "properties": ["to": ["type": "string"]]],
        "output": ["type": "object", "properties": ["text": ["type": "string"]]],
    ]
}

/// The orchestrator of ``withTokens(_:_:)`` plus a TCP listener; `body` gets the socket path and the TCP port.
func withTokensOverTCP(
    _ dir: TemporaryDirectory, _ body: @escaping @Sendable (String, Int) async throws -> Void
) async throws {
    try await LiveOrchestrator.with(in: dir, configure: {
        TestTokens.configure(&$0)
        $0.tcpAddress = ("127.0.0.1", 0)
    }) { _, server in
        let port = try #require(try await server.ready().tcpPort)
        try await body(dir.file("k.sock"), port)
    }
}

extension Peer {
    /// The registered contract named `name` as `worker/list` shows it, or nil.
    func listedContract(_ name: String) async -> JSONValue? {
        let list = await request("worker/list")
        for worker in list?["result"]?["workers"]?.arrayValue ?? [] {
            for c in worker["activityContracts"]?.arrayValue ?? [] where c["name"] == .string(name) { return c }
        }
        return nil
    }

    /// Registers `contracts` as worker `name`, with `extra` params.
    func register(_ name: String, _ contracts: [JSONValue], _ extra: [String: JSONValue] = [:]) async -> JSONValue? {
        var params: [String: JSONValue] = ["name": .string(name), "activities": .array(contracts)]
        params.merge(extra) { _, new in new }
        return await request("worker/register", .object(params))
    }
}

/// Owned contracts change by `keel schema diff` rules (docs/security.md, "Owned contracts").
@Suite("Contract changes: compatible, breaking, versioned", .serialized, .timeLimit(.minutes(2)))
struct ContractChangeTests {
    @Test func aCompatibleChangeByAnAllowedWorkerIsAcceptedAndRaisesTheVersionAcrossRestarts() async throws {
        try await TemporaryDirectory.with { dir in
            try await withTokens(dir) { path, _ in
                let (worker, _) = try await Peer.connect(path, token: TestTokens.worker)
                let first = await worker.register("greeter", [GreetContracts.v1])
                #expect(first?["result"]?["workerId"] != nil, "\(String(describing: first))")
                #expect(await worker.listedContract("greet.hello")?["version"] == 1)
                let changed = await worker.register("greeter", [GreetContracts.v2])
                #expect(changed?["result"]?["workerId"] != nil, "\(String(describing: changed))")
                let listed = await worker.listedContract("greet.hello")
                #expect(listed?["version"] == 2)
                #expect(listed?["input"] == GreetContracts.v2["input"])
            }
            // The worker restarts with the orchestrator: its pin and version are kept, not bumped.
            try await withTokens(dir) { path, _ in
                let (worker, _) = try await Peer.connect(path, token: TestTokens.worker)
                let back = await worker.register("greeter", [GreetContracts.v2])
                #expect(back?["result"]?["workerId"] != nil, "\(String(describing: back))")
                #expect(await worker.listedContract("greet.hello")?["version"] == 2)
                let next = await worker.register("greeter", [GreetContracts.v3])
                #expect(next?["result"]?["workerId"] != nil, "\(String(describing: next))")
                #expect(await worker.listedContract("greet.hello")?["version"] == 3)
            }
        }
    }

    @Test func aRefactorIsAcceptedAndAnUndecidedChangeIsRefusedLikeABreakingOne() async throws {
        try await TemporaryDirectory.with { dir in
            try await withTokens(dir) { path, _ in
                let (worker, _) = try await Peer.connect(path, token: TestTokens.worker)
                _ = await worker.register("greeter", [GreetContracts.v1])
                // The same input, moved into $defs: no change in meaning (the keyword diff called it breaking).
                let refactored: JSONValue = [
                    "name": "greet.hello",
                    "input": [
                        "$defs": ["name": ["type": "string"]], "type": "object",
                        "properties": ["to": ["$ref": "#/$defs/name"]],
                    ],
                    "output": GreetContracts.v1["output"]!,
                ]
                let accepted = await worker.register("greeter", [refactored])
                #expect(accepted?["result"]?["workerId"] != nil, "\(String(describing: accepted))")
                #expect(await worker.listedContract("greet.hello")?["version"] == 2)
                // One pattern for another: undecided, no witness -> refused (the safe side).
                func patterned(_ pattern: String) -> JSONValue {
                    [
                        "name": "greet.hello",
                        "input": ["type": "object", "properties": ["to": ["type": "string", "pattern": .string(pattern)]]],
                        "output": GreetContracts.v1["output"]!,
                    ]
                }
                let admin = try await Peer.connect(path, token: TestTokens.admin).0
                _ = await worker.register("greeter", [["name": "greet.other"]])
                _ = await admin.register("admin", [patterned("^[a-z]+$")])
                _ = await admin.register("admin", [["name": "greet.other2"]])
                let refused = await worker.register("greeter", [patterned("^[a-z][a-z]*$")])
                #expect(refused?.errorCode == 2005, "\(String(describing: refused))")
                let changes = refused?["error"]?["data"]?["breakingChanges"]?.arrayValue ?? []
                #expect(changes.map { $0["verdict"] } == ["possibly-breaking"], "\(changes)")
                #expect(changes.first?["pointer"] == "/properties/to/pattern", "\(changes)")
            }
        }
    }

    @Test func aBreakingChangeWithoutTheFlagIsRefusedNamingEachChangeAndKeepsThePin() async throws {
        try await TemporaryDirectory.with { dir in
            try await withTokens(dir) { path, _ in
                let (worker, _) = try await Peer.connect(path, token: TestTokens.worker)
                _ = await worker.register("greeter", [GreetContracts.v1])
                let pinned = try #require(await worker.listedContract("greet.hello"))
                let refused = await worker.register("greeter", [GreetContracts.breaking])
                #expect(refused?.errorCode == 2005, "\(String(describing: refused))")
                let data = refused?["error"]?["data"]
                #expect(data?["existingVersion"] == 1)
                let changes = data?["breakingChanges"]?.arrayValue ?? []
                let named = Set(changes.map { "\($0["role"]?.stringValue ?? "") \($0["pointer"]?.stringValue ?? "")" })
                #expect(named.contains("input /required"), "\(changes)")
                #expect(named.contains("output /properties/greeting"), "\(changes)")
                #expect(changes.allSatisfy { $0["breaking"] == true && $0["reason"]?.stringValue?.isEmpty == false })
                let message = refused?["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains("property \"to\" is now required"), "\(message)")
                #expect(message.contains("allowBreakingChanges"), "\(message)")
                // The pin is unchanged, here and after a restart.
                #expect(await worker.listedContract("greet.hello") == pinned)
            }
            try await withTokens(dir) { path, _ in
                let (worker, _) = try await Peer.connect(path, token: TestTokens.worker)
                let again = await worker.register("other", [GreetContracts.breaking])
                #expect(again?.errorCode == 2005, "\(String(describing: again))")
                let back = await worker.register("greeter", [GreetContracts.v1])
                #expect(back?["result"]?["workerId"] != nil, "\(String(describing: back))")
                #expect(await worker.listedContract("greet.hello")?["version"] == 1)
            }
        }
    }

    @Test func aBreakingChangeWithTheFlagIsAcceptedButNotFromACredentialThatMayNotServeTheName() async throws {
        try await TemporaryDirectory.with { dir in
            try await withTokens(dir) { path, _ in
                let (worker, _) = try await Peer.connect(path, token: TestTokens.worker)
                _ = await worker.register("greeter", [GreetContracts.v1])
                let flag: [String: JSONValue] = ["allowBreakingChanges": true]
                // Outside the worker token's allow-list, or a client: the flag does not help.
                let outside = await worker.register(
                    "greeter", [["name": "billing.charge", "input": ["type": "object"]]], flag)
                #expect(outside?.errorCode == -32004, "\(String(describing: outside))")
                let (client, _) = try await Peer.connect(path, token: TestTokens.client)
                let thief = await client.register("thief", [GreetContracts.breaking], flag)
                #expect(thief?.errorCode == -32004, "\(String(describing: thief))")
                #expect(await worker.listedContract("greet.hello")?["version"] == 1)
                let accepted = await worker.register("greeter", [GreetContracts.breaking], flag)
                #expect(accepted?["result"]?["workerId"] != nil, "\(String(describing: accepted))")
                let listed = await worker.listedContract("greet.hello")
                #expect(listed?["version"] == 2)
                #expect(listed?["output"] == GreetContracts.breaking["output"])
                // An admin changes it without the flag, and that is a version too (the worker moves
                // aside first: two connected workers may not serve one name with two contracts).
                _ = await worker.register("greeter", [["name": "greet.other"]])
                let (admin, _) = try await Peer.connect(path, token: TestTokens.admin)
                let restored = await admin.register("greeter", [GreetContracts.v1])
                #expect(restored?["result"]?["workerId"] != nil, "\(String(describing: restored))")
                #expect(await admin.listedContract("greet.hello")?["version"] == 3)
            }
        }
    }

    @Test func theSwiftWorkerStopsOnABreakingChangeWithoutTheFlagInsteadOfRetrying() async throws {
        try await TemporaryDirectory.with { dir in
            try await withTokensOverTCP(dir) { path, port in
                let (pinner, _) = try await Peer.connect(path, token: TestTokens.worker)
                _ = await pinner.register("greeter", [GreetContracts.v1])
                _ = await pinner.register("greeter", [["name": "greet.other"]])
                let endpoint = Endpoint.tcp(host: "127.0.0.1", port: port, token: TestTokens.worker)
                let worker = Worker(name: "greeter", endpoint: endpoint)
                worker.activity(
                    "greet.hello", input: GreetContracts.breaking["input"], output: GreetContracts.breaking["output"]
                ) { (_: JSONValue, _) -> JSONValue in ["text": "hi"] }
                // run() ends with the refusal; a retry loop would still be running after 60 s.
                let refusal = try await withThrowingTaskGroup(of: KeelError?.self) { group in
                    group.addTask {
                        do { try await worker.run() } catch let error as KeelError { return error }
                        return nil
                    }
                    group.addTask {
                        try await Task.sleep(for: .seconds(60))
                        return nil
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
                #expect(refusal?.code == .contractConflict, "\(String(describing: refusal))")
                #expect(refusal?.data?["breakingChanges"]?.arrayValue?.isEmpty == false)
                #expect(await pinner.listedContract("greet.hello") == nil)
            }
        }
    }

    @Test func theSwiftWorkerRegistersABreakingChangeWhenAllowed() async throws {
        try await TemporaryDirectory.with { dir in
            try await withTokensOverTCP(dir) { path, port in
                let (pinner, _) = try await Peer.connect(path, token: TestTokens.worker)
                _ = await pinner.register("greeter", [GreetContracts.v1])
                // Free the name on the registry side: the pinner serves something else now.
                _ = await pinner.register("greeter", [["name": "greet.other"]])
                let endpoint = Endpoint.tcp(host: "127.0.0.1", port: port, token: TestTokens.worker)
                let worker = Worker(name: "greeter", endpoint: endpoint, allowBreakingChanges: true)
                #expect(worker.allowBreakingChanges)
                worker.activity(
                    "greet.hello", input: GreetContracts.breaking["input"], output: GreetContracts.breaking["output"]
                ) { (_: JSONValue, _) -> JSONValue in ["text": "hi"] }
                try await LiveOrchestrator.withWorker(worker) {
                    let registered = try await eventually(timeout: .seconds(30)) {
                        await pinner.listedContract("greet.hello")?["version"] == 2
                    }
                    #expect(registered)
                    #expect(await pinner.listedContract("greet.hello")?["output"] == GreetContracts.breaking["output"])
                }
            }
        }
    }
}
