import Foundation
import KeelClient
import KeelCore
@testable import KeelEngine
import KeelProtocol
import KeelServer
import KeelStorage
import KeelTesting
import Logging
import Synchronization
import Testing

/// Issue 13, "docs that match the wire": every code docs/errors.md lists is reachable. Each code
/// is either triggered below against a real orchestrator (real socket, real SQLite file) or
/// listed in ``notSent`` with the reason, and its docs entry must say so. A code defined in
/// Sources without an entry, or an entry with neither a trigger nor a reason, fails the catalog test.
///
/// Adding a code: document it in docs/errors.md, then add its trigger to ``triggers`` and make one
/// of the live tests observe it (or add it to ``notSent`` if Keel never sends it).
@Suite("Every documented error code is reachable", .serialized, .timeLimit(.minutes(3)))
struct ErrorReachabilityTests {
    /// What makes Keel send each code; the live tests below do exactly this.
    static let triggers: [Int: String] = [
        -32700: "a line that is not JSON",
        -32600: #"a message with "jsonrpc":"1.0""#,
        -32601: "an unknown method after initialize",
        -32602: "activity/result without taskId",
        -32603: "an error the engine did not expect, made safe for the wire (Engine.unexpectedErrorForWire)",
        -32000: "ping before initialize",
        -32001: #"initialize with protocolVersion "999""#,
        -32002: "a 70 KB line before initialize (handshake limit 64 KiB)",
        -32003: "activity/call while the orchestrator drains a running attempt",
        -32004: "initialize over TCP with a wrong token",
        -32008: "a connection that sends nothing within the handshake deadline",
        -32009: "a second connection past --max-connections 1",
        -32010: "a batch of 3 with --max-batch-items 2",
        -32011: "more wrong-token initializes than --max-auth-failures",
        1001: "workflow/describe of an unknown id",
        1002: #"workflow/start twice with one id and conflictPolicy "fail""#,
        1003: "workflow/step with a kind other than the journal's at that seq",
        2004: "activity/result of an unknown task id",
        2005: "a second worker registering a connected worker's activity with another input schema",
        2006: "activity/heartbeat for a task that is not running",
        3001: "activity/call whose input breaks the registered input schema",
        3002: "a worker's output that breaks the output schema (recorded as failure type OutputContractViolation)",
        3003: #"worker/register with an input schema {"type": 5}"#,
        4001: "activity/call while the SQLite file cannot grow (max_page_count 1)",
        4002: "activity/call with a used idempotency key and another input",
        1010: "workflow/reset to a step past the journal",
        1011: "workflow/reset to a step that has no outcome yet (a sleep in progress)",
        1012: "workflow/reset of a parent to before its child step",
        1013: "workflow/batch with an unknown key in the query",
        1020: "schedule/describe of an unknown id",
        1021: "schedule/create twice with one id",
        1030: "workflow/query of a query the workflow never published",
        1031: "workflow/update to a workflow that ends without answering it",
    ]

    /// Codes Keel itself never sends, and the words their docs entry must use to say so.
    static let notSent: [Int: String] = [
        -32005: "Reserved",
        -32006: "Local only",
        -32007: "Local only",
        1004: "Reserved",
        1005: "Reserved",
        2001: "Reserved",
        2002: "Reserved",
        2003: "Internal",
        2007: "Reserved",
    ]

    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// `### CODE name` headings of docs/errors.md, with each entry's text.
    static func documentedCodes() throws -> [Int: String] {
        let doc = try String(contentsOf: root.appendingPathComponent("docs/errors.md"), encoding: .utf8)
        var entries: [Int: String] = [:]
        var current: Int?
        for line in doc.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("### "), let code = Int(line.dropFirst(4).split(separator: " ").first ?? "") {
                current = code
                entries[code] = ""
            } else if line.hasPrefix("#") {
                current = nil
            } else if let c = current {
                entries[c, default: ""] += line + "\n"
            }
        }
        return entries
    }

    /// Every `Code(NUMBER, "name")` defined anywhere in Sources.
    static func codesInSources() throws -> [Int: String] {
        let pattern = try NSRegularExpression(pattern: #"Code\((-?\d+),\s*"(\w+)"\)"#)
        var found: [Int: String] = [:]
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift", file.lastPathComponent != "ProtocolSchemas.swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let n = Range(m.range(at: 1), in: text), let name = Range(m.range(at: 2), in: text),
                    let code = Int(text[n])
                else { continue }
                found[code] = String(text[name])
            }
        }
        return found
    }

    @Test func everyDocumentedCodeHasATriggerAndEveryCodeInSourcesIsDocumented() throws {
        let documented = try Self.documentedCodes()
        let defined = try Self.codesInSources()
        #expect(!defined.isEmpty && documented.count >= 30, "the scans found \(defined.count) and \(documented.count) codes")
        for (code, name) in defined.sorted(by: { $0.key < $1.key }) {
            #expect(documented[code] != nil, "\(code) \(name) is defined in Sources but has no entry in docs/errors.md")
        }
        for code in KeelError.Code.all.map(\.rpcCode) {
            #expect(defined[code] != nil, "the Sources scan missed \(code)")
        }
        for code in documented.keys.sorted() {
            let reached = Self.triggers[code] != nil, reason = Self.notSent[code]
            #expect(
                reached != (reason != nil),
                "docs/errors.md lists \(code): give it exactly one trigger in ErrorReachabilityTests.triggers (and observe it in a live test) or a reason in notSent")
            if let reason {
                #expect(documented[code]?.contains(reason) == true, "docs/errors.md's entry for \(code) must say \"\(reason)\"")
            }
        }
        for code in Array(Self.triggers.keys) + Array(Self.notSent.keys) {
            #expect(documented[code] != nil, "\(code) has a trigger or reason here but no entry in docs/errors.md")
        }
    }

    // MARK: - Live triggers

    /// Codes the live tests saw; compared with ``triggers`` once all ran.
    static let observed = Locked<Set<Int>>([])

    static func saw(_ code: Int64?, _ expected: Int, _ what: String) {
        #expect(code == Int64(expected), "\(what): expected \(expected), got \(String(describing: code))")
        if code == Int64(expected) { observed.withLock { _ = $0.insert(expected) } }
    }

    static let token = "reach-token-for-tests"

    static func initialize(token: String? = nil, version: String = "1") -> JSONValue {
        var params: [String: JSONValue] = ["protocolVersion": .string(version)]
        if let token { params["token"] = .string(token) }
        return .object(JSONObject(params))
    }

    /// Runs every trigger, each against a real orchestrator, and checks each listed code was seen.
    @Test func everyTriggerListedIsObservedOnTheWire() async throws {
        Self.observed.withLock { $0 = [] }
        try await Self.oneRunningOrchestrator()
        try await Self.connectionCaps()
        try await Self.drainingOrchestrator()
        let missing = Set(Self.triggers.keys).subtracting(Self.observed.withLock { $0 })
        #expect(missing.isEmpty, "codes with a trigger listed but not observed: \(missing.sorted())")
    }

    /// One orchestrator: the framing, handshake, workflow, activity, contract and storage codes.
    static func oneRunningOrchestrator() async throws {
        try await TemporaryDirectory.with { dir in
            let db = dir.file("keel.db")
            defer { _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db) }
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.tcpAddress = ("127.0.0.1", 0)
                $0.token = Self.token
                $0.connections.maxAuthFailuresPerMinute = 2
                $0.limits.maxBatchItems = 2
            }) { endpoint, server in
                let path = dir.file("k.sock")
                try await Self.framingAndHandshake(path: path, tcpPort: try await server.ready().tcpPort!)
                try await Self.domainCodes(path: path, endpoint: endpoint)
                _SQLiteTestHooks.setMaximumPageCount(1, forDatabaseAt: db)
                let client = try WirePeer(path: path)
                _ = await client.call("initialize", Self.initialize())
                let big = String(repeating: "x", count: 64 * 1024)
                saw(
                    await client.errorCode("activity/call", ["name": "any.thing", "input": .string(big), "wait": false]),
                    4001, "a write the full store cannot take")
                _SQLiteTestHooks.setMaximumPageCount(nil, forDatabaseAt: db)
            }
        }
    }

    static func framingAndHandshake(path: String, tcpPort: Int) async throws {
        let fresh = try WirePeer(path: path)
        saw(await fresh.errorCode("ping"), -32000, "ping before initialize")
        saw(await fresh.errorCode("initialize", initialize(version: "999")), -32001, "an unsupported version")
        await fresh.socket.send(#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""# + String(repeating: "a", count: 70_000) + "\"}}\n")
        saw(await fresh.socket.readLine()?["error"]?["code"]?.int64Value, -32002, "a line over the handshake limit")

        let peer = try WirePeer(path: path)
        #expect(await peer.call("initialize", initialize())?["result"] != nil)
        await peer.socket.send("{not json\n")
        saw(await peer.socket.readLine()?["error"]?["code"]?.int64Value, -32700, "a line that is not JSON")
        await peer.socket.send(#"{"jsonrpc":"1.0","id":7,"method":"ping"}"# + "\n")
        saw(await peer.socket.readLine()?["error"]?["code"]?.int64Value, -32600, "jsonrpc 1.0")
        saw(await peer.errorCode("no/such"), -32601, "an unknown method")
        saw(await peer.errorCode("activity/result", [:]), -32602, "a missing taskId")
        let ping = #"{"jsonrpc":"2.0","id":"b","method":"ping"}"#
        await peer.socket.send("[\(ping),\(ping),\(ping)]\n")
        saw(await peer.socket.readLine()?["error"]?["code"]?.int64Value, -32010, "a batch over the item cap")

        // A wrong token is refused (-32004) and counted; past the cap the address is refused (-32011).
        var codes: [Int64] = []
        for _ in 0..<5 where !codes.contains(-32011) {
            // Raw reads: the -32011 refusal is written on accept, with `id: null`.
            let tcp = WirePeer(try RawSocket(host: "127.0.0.1", port: tcpPort))
            await tcp.send(["jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize(token: "wrong")])
            if let code = await tcp.socket.readLine()?["error"]?["code"]?.int64Value { codes.append(code) }
        }
        saw(codes.first, -32004, "a wrong token")
        saw(codes.last, -32011, "too many wrong tokens")

        // Not sent by any path a peer controls: a bug. The engine's boundary turns it into -32603.
        struct Unexpected: Error {}
        let node = try await SQLiteNode.open(path: (path as NSString).deletingLastPathComponent + "/engine-only.db")
        let error = node.engine.unexpectedErrorForWire(Unexpected(), method: "ping")
        saw(Int64(error.code.rpcCode), -32603, "an unexpected error")
        #expect(error.data?["incident"]?.stringValue?.hasPrefix("inc-") == true)
        await node.close()
    }

    static func domainCodes(path: String, endpoint: Endpoint) async throws {
        let client = try WirePeer(path: path)
        _ = await client.call("initialize", initialize())
        saw(await client.errorCode("workflow/describe", ["workflowId": "no-such-workflow"]), 1001, "an unknown workflow")
        let start: JSONValue = ["name": "reach.wf", "workflowId": "reach-dup", "conflictPolicy": "fail"]
        _ = await client.call("workflow/start", start)
        saw(await client.errorCode("workflow/start", start), 1002, "a second start with fail")
        saw(await client.errorCode("activity/result", ["taskId": "t-no-such-task", "waitTimeoutMs": 0]), 2004, "an unknown task")
        saw(await client.errorCode("activity/heartbeat", ["taskId": "t-no-such-task"]), 2006, "a heartbeat for no running attempt")
        let first: JSONValue = ["name": "reach.keyed", "input": 1, "idempotencyKey": "reach-key", "wait": false]
        _ = await client.call("activity/call", first)
        saw(
            await client.errorCode("activity/call", ["name": "reach.keyed", "input": 2, "idempotencyKey": "reach-key", "wait": false]),
            4002, "a key reused for another input")

        let worker = try WirePeer(path: path)
        _ = await worker.call("initialize", initialize())
        let registered = await worker.call(
            "worker/register",
            [
                "name": "reach-worker",
                "activities": [
                    ["name": "reach.in", "input": ["type": "object", "required": ["name"]]],
                    ["name": "reach.out", "output": ["type": "string"]],
                ],
                "workflows": [["name": "reach.nd"]],
            ])
        #expect(registered?["result"]?["workerId"] != nil, "\(String(describing: registered))")
        saw(await client.errorCode("activity/call", ["name": "reach.in", "input": [:]]), 3001, "input against its schema")

        let rival = try WirePeer(path: path)
        _ = await rival.call("initialize", initialize())
        saw(
            await rival.errorCode("worker/register", ["activities": [["name": "reach.in", "input": ["type": "string"]]]]),
            2005, "another contract for a connected worker's activity")
        saw(
            await rival.errorCode("worker/register", ["activities": [["name": "reach.bad", "input": ["type": 5]]]]),
            3003, "an invalid schema")

        // 3002 is data, not an error response: the task fails with type OutputContractViolation.
        let called = await client.call("activity/call", ["name": "reach.out", "input": [:], "wait": false])
        if let execute = await worker.request("activity/execute") {
            await worker.reply(to: execute, result: ["output": 5])
        }
        let taskId = called?["result"]?["taskId"] ?? .null
        let ended = await client.call("activity/result", ["taskId": taskId, "waitTimeoutMs": 30_000])
        #expect(ended?["result"]?["status"] == "failed", "\(String(describing: ended))")
        if ended?["result"]?["failure"]?["type"] == "OutputContractViolation" { observed.withLock { _ = $0.insert(3002) } }

        // 1003: the same seq sent again with another kind parks the execution.
        _ = await client.call("workflow/start", ["name": "reach.nd", "workflowId": "reach-nd"])
        guard let run = await worker.request("workflow/run") else {
            Issue.record("no workflow/run arrived")
            return
        }
        let runParams = run["params"] ?? .null
        func step(_ kind: String) -> JSONValue {
            [
                "workflowId": runParams["workflowId"] ?? .null, "runId": runParams["runId"] ?? .null, "seq": 1,
                "kind": .string(kind), "name": .string(kind), "input": [:],
            ]
        }
        let now = await worker.call("workflow/step", step("now"))
        #expect(now?["result"]?["status"] == "completed", "\(String(describing: now))")
        saw(await worker.errorCode("workflow/step", step("random")), 1003, "a step that differs from the journal")
        try await resetAndBatchCodes(client: client, worker: worker)
    }

    /// 1010–1013: `workflow/reset` at points the journal cannot take, and `workflow/batch`.
    static func resetAndBatchCodes(client: WirePeer, worker: WirePeer) async throws {
        saw(await client.errorCode("workflow/reset", ["workflowId": "reach-nd", "toStep": 9]), 1010, "a reset past the journal")
        // One step each, sent without waiting for its (held) answer: a sleep with no outcome yet, a child.
        for (id, kind, name, input) in [
            ("reach-asleep", "sleep", "nap", ["durationMs": 3_600_000] as JSONValue),
            ("reach-parent", "child", "reach.nd", ["workflowId": "reach-kid"] as JSONValue),
        ] {
            _ = await client.call("workflow/start", ["name": "reach.nd", "workflowId": .string(id)])
            guard let run = await worker.request("workflow/run") else {
                Issue.record("no workflow/run arrived for \(id)")
                return
            }
            let p = run["params"] ?? .null
            await worker.send([
                "jsonrpc": "2.0", "id": .string("step-\(id)"), "method": "workflow/step",
                "params": [
                    "workflowId": p["workflowId"] ?? .null, "runId": p["runId"] ?? .null, "seq": 1,
                    "kind": .string(kind), "name": .string(name), "input": input,
                ],
            ])
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline,
                (await client.call("workflow/describe", ["workflowId": .string(id)]))?["result"]?["steps"]?.int64Value ?? 0 < 1
            {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        saw(await client.errorCode("workflow/reset", ["workflowId": "reach-asleep", "toStep": 1]), 1011, "a kept step with no outcome")
        saw(await client.errorCode("workflow/reset", ["workflowId": "reach-parent", "toStep": 0]), 1012, "a reset that would start a child twice")
        saw(
            await client.errorCode("workflow/batch", ["operation": "cancel", "query": "stauts=running", "dryRun": true]),
            1013, "a batch with a bad query")
        saw(await client.errorCode("schedule/describe", ["scheduleId": "reach-none"]), 1020, "an unknown schedule")
        let schedule: JSONValue = ["scheduleId": "reach-s", "spec": ["intervalMs": 3_600_000], "action": ["workflow": "reach.nd"]]
        #expect(await client.call("schedule/create", schedule)?["result"] != nil)
        saw(await client.errorCode("schedule/create", schedule), 1021, "a schedule created twice")
        saw(await client.errorCode("workflow/query", ["workflowId": "reach-parent", "name": "nope"]), 1030, "an unpublished query")
        // An update waits; the run ends without answering it.
        _ = await client.call("workflow/start", ["name": "reach.nd", "workflowId": "reach-update"])
        // Runs of earlier workflows (the child above) may come first.
        var run = await worker.request("workflow/run")
        while let r = run, r["params"]?["workflowId"] != "reach-update" { run = await worker.request("workflow/run") }
        guard let run else {
            Issue.record("no workflow/run arrived for reach-update")
            return
        }
        await client.send([
            "jsonrpc": "2.0", "id": "reach-update-call", "method": "workflow/update",
            "params": ["workflowId": "reach-update", "name": "approve", "waitTimeoutMs": 60_000],
        ])
        try await Task.sleep(for: .milliseconds(300))
        await worker.reply(to: run, result: ["status": "completed", "output": "ignored the update"])
        saw(await client.answer(to: "reach-update-call")?["error"]?["code"]?.int64Value, 1031, "an update never answered")
    }

    /// A second orchestrator with tiny handshake and connection caps.
    static func connectionCaps() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.connections.maxConnections = 1
                // Long enough for the holder's initialize on a loaded machine; the silent one waits it out.
                $0.connections.handshakeTimeoutMs = 2_000
            }) { endpoint, _ in
                let path = dir.file("k.sock")
                // An initialized connection holds the only slot for as long as it stays open.
                var holder: WirePeer? = try WirePeer(path: path)
                #expect(await holder?.call("initialize", initialize())?["result"] != nil)
                let refused = try RawSocket(path: path)
                saw(await refused.readLine()?["error"]?["code"]?.int64Value, -32009, "a connection past the cap")
                holder = nil  // closes it; the slot comes back once the orchestrator sees the close
                var code: Int64?
                for _ in 0..<300 {
                    let silent = try RawSocket(path: path)
                    code = await silent.readLine()?["error"]?["code"]?.int64Value
                    if code != -32009 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                saw(code, -32008, "no initialize within the handshake deadline")
            }
        }
    }

    /// A third orchestrator, stopped while an attempt runs: new work is refused while it drains.
    static func drainingOrchestrator() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.drainTimeoutMs = 60_000 }) { endpoint, server in
                let path = dir.file("k.sock")
                let worker = try WirePeer(path: path)
                _ = await worker.call("initialize", Self.initialize())
                _ = await worker.call("worker/register", ["activities": [["name": "reach.held"]]])
                let client = try WirePeer(path: path)
                _ = await client.call("initialize", Self.initialize())
                _ = await client.call("activity/call", ["name": "reach.held", "input": [:], "wait": false])
                let execute = await worker.request("activity/execute")
                #expect(execute != nil)
                server.stop()  // drains: waits for the held attempt
                var code: Int64?
                for _ in 0..<600 where code != -32003 {
                    code = await client.errorCode("activity/call", ["name": "reach.other", "input": [:], "wait": false])
                    if code != -32003 { try await Task.sleep(for: .milliseconds(50)) }
                }
                saw(code, -32003, "new work while draining")
                if let execute { await worker.reply(to: execute, result: ["output": [:]]) }
            }
        }
    }
}
