import Foundation
import KeelClient
import KeelCore
import KeelEngine
import KeelServer
import KeelTesting
import KeelTracing
import Testing

/// One span line of the trace file, flattened.
struct ExportedSpan {
    var name: String
    var traceID: String
    var spanID: String
    var parentSpanID: String?
    var attributes: [String: String]

    /// Every span in an OTLP/JSON-lines file (resourceSpans → scopeSpans → spans).
    static func read(_ path: String) throws -> [ExportedSpan] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").flatMap { line -> [ExportedSpan] in
            let request = try JSONParser.parse(String(line))
            let scopes = request["resourceSpans"]?.arrayValue?.flatMap { $0["scopeSpans"]?.arrayValue ?? [] } ?? []
            return scopes.flatMap { $0["spans"]?.arrayValue ?? [] }.map { span in
                var attributes: [String: String] = [:]
                for a in span["attributes"]?.arrayValue ?? [] {
                    let v = a["value"]
                    attributes[a["key"]?.stringValue ?? ""] = v?["stringValue"]?.stringValue ?? v?["intValue"]?.stringValue
                }
                return ExportedSpan(
                    name: span["name"]?.stringValue ?? "", traceID: span["traceId"]?.stringValue ?? "",
                    spanID: span["spanId"]?.stringValue ?? "", parentSpanID: span["parentSpanId"]?.stringValue,
                    attributes: attributes)
            }
        }
    }
}

@Suite("Traces", .timeLimit(.minutes(3)))
struct TraceTests {
    static let callerTrace = "0af7651916cd43dd8448eb211c80319c"
    static let callerSpan = "b7ad6b7169203331"

    /// A worker whose activity fails its first attempt per key, then succeeds, and records the
    /// `traceparent` each attempt received; a parent workflow runs it inside a child workflow.
    func makeTraceWorker(_ endpoint: Endpoint, received: Locked<[String: [String]]>) -> Worker {
        let attempts = Counter()
        let w = Worker(name: "trace-worker", endpoint: endpoint)
        w.activity("trace.flaky") { (input: JSONValue, ctx) -> JSONValue in
            let key = input["key"]?.stringValue ?? ""
            received.withLock { $0[key, default: []].append(ctx.traceparent ?? "") }
            if attempts.bump(key) == 1 { throw ActivityFailure("first attempt fails", type: "Transient", retryable: true) }
            return ["key": .string(key)]
        }
        w.activity("trace.block") { (_: JSONValue, ctx) -> JSONValue in
            received.withLock { $0["block", default: []].append(ctx.traceparent ?? "") }
            await ctx.sleep(for: .seconds(60))
            return ["stopped": .bool(ctx.isCancelled)]
        }
        w.workflow("trace.blocked") { (_: JSONValue, ctx) -> JSONValue in
            try await ctx.activity("trace.block", [:] as JSONValue, as: JSONValue.self)
        }
        w.workflow("trace.child") { (input: JSONValue, ctx) -> JSONValue in
            try await ctx.activity("trace.flaky", input, as: JSONValue.self, retryPolicy: ["initialIntervalMs": 10])
        }
        w.workflow("trace.parent") { (input: JSONValue, ctx) -> JSONValue in
            let key = "run:" + (input["key"]?.stringValue ?? "")
            received.withLock { $0[key, default: []].append(ctx.traceparent ?? "") }
            let child: JSONValue = try await ctx.child("trace.child", input)
            return ["child": child]
        }
        return w
    }

    @Test func aWorkflowWithAChildAndARetriedActivityExportsOneSpanTree() async throws {
        try await TemporaryDirectory.with { dir in
            let path = dir.file("spans.jsonl")
            let tracer = try OTLPFileTracer(path: path) { reason in Issue.record("span not written: \(reason)") }
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.tracer = tracer }) { endpoint, _ in
                let received = Locked<[String: [String]]>([:])
                try await LiveOrchestrator.withWorker(makeTraceWorker(endpoint, received: received)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await rpc(endpoint, "workflow/start", [
                        "name": "trace.parent", "input": ["key": "joined"], "workflowId": "traced",
                        "traceparent": .string("00-\(Self.callerTrace)-\(Self.callerSpan)-01"),
                    ])
                    #expect(try await result(endpoint, "traced")["status"] == "completed")
                    _ = try await start(endpoint, "trace.parent", ["key": "fresh"], id: "untraced")
                    #expect(try await result(endpoint, "untraced")["status"] == "completed")
                }
                let spans = try ExportedSpan.read(path)
                let firstLine = try #require(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first)
                let resource = try JSONParser.parse(String(firstLine))["resourceSpans"]?.arrayValue?.first?["resource"]
                #expect(resource?["attributes"]?.arrayValue?.first == ["key": "service.name", "value": ["stringValue": "keel"]])
                try checkTree(spans, root: "traced", received: received.withLock { $0 }["joined"] ?? [],
                    runs: received.withLock { $0 }["run:joined"] ?? [],
                    callerTrace: Self.callerTrace, callerSpan: Self.callerSpan)
                try checkTree(spans, root: "untraced", received: received.withLock { $0 }["fresh"] ?? [],
                    runs: received.withLock { $0 }["run:fresh"] ?? [],
                    callerTrace: nil, callerSpan: nil)
            }
        }
    }

    /// Checks the spans of one parent workflow `root`: its child's span under its own, two
    /// attempt spans (retried, then completed) under the child's, one trace id throughout, and
    /// the worker's `traceparent` of each attempt naming that attempt's span.
    func checkTree(
        _ all: [ExportedSpan], root: String, received: [String], runs: [String], callerTrace: String?, callerSpan: String?
    ) throws {
        let parent = try #require(all.first { $0.attributes["keel.workflow_id"] == root && $0.name == "workflow trace.parent" })
        let child = try #require(all.first { $0.attributes["keel.parent_workflow_id"] == root })
        let attempts = all.filter { $0.attributes["keel.workflow_id"] == "\(root)/1" && $0.name == "activity trace.flaky" }
            .sorted { ($0.attributes["keel.attempt"] ?? "") < ($1.attributes["keel.attempt"] ?? "") }
        let tree = [parent, child] + attempts
        #expect(Set(tree.map(\.traceID)).count == 1)
        if let callerTrace {
            #expect(parent.traceID == callerTrace)
            #expect(parent.parentSpanID == callerSpan)
        } else {
            #expect(parent.parentSpanID == nil)
            #expect(parent.traceID != Self.callerTrace)
        }
        #expect(child.name == "workflow trace.child")
        #expect(child.parentSpanID == parent.spanID)
        #expect(attempts.map { $0.attributes["keel.outcome"] } == ["retried", "completed"])
        #expect(attempts.map { $0.attributes["keel.attempt"] } == ["1", "2"])
        #expect(attempts.allSatisfy { $0.parentSpanID == child.spanID })
        #expect(attempts.allSatisfy { $0.attributes["keel.task_id"]?.isEmpty == false })
        #expect(received == attempts.map { "00-\($0.traceID)-\($0.spanID)-01" })
        // Every run of the parent (it replays after its child ends) got the parent's own span.
        #expect(!runs.isEmpty)
        #expect(runs.allSatisfy { $0 == "00-\(parent.traceID)-\(parent.spanID)-01" })
    }

    @Test func aTerminatedWorkflowEndsItsSpanAndItsRunningAttemptsSpanOnce() async throws {
        try await TemporaryDirectory.with { dir in
            let path = dir.file("spans.jsonl")
            let tracer = try OTLPFileTracer(path: path) { reason in Issue.record("span not written: \(reason)") }
            try await LiveOrchestrator.with(in: dir, configure: { $0.engine.tracer = tracer }) { endpoint, _ in
                let received = Locked<[String: [String]]>([:])
                try await LiveOrchestrator.withWorker(makeTraceWorker(endpoint, received: received)) {
                    try await waitForWorkers(endpoint, 1)
                    _ = try await start(endpoint, "trace.blocked", [:], id: "blocked")
                    #expect(try await eventually { received.withLock { $0["block"]?.count == 1 } })
                    _ = try await rpc(endpoint, "workflow/terminate", ["workflowId": "blocked", "reason": "test"])
                    #expect(try await result(endpoint, "blocked")["status"] == "terminated")
                }
                let spans = try ExportedSpan.read(path)
                let workflow = spans.filter { $0.name == "workflow trace.blocked" }
                let attempts = spans.filter { $0.name == "activity trace.block" }
                #expect(workflow.map { $0.attributes["keel.status"] } == ["terminated"])
                #expect(attempts.map { $0.attributes["keel.outcome"] } == ["cancelled"])
                #expect(attempts.first?.parentSpanID == workflow.first?.spanID)
            }
        }
    }

    @Test(arguments: [
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", nil),
        ("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-future", nil),
        ("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "trace id must be 32 lowercase hex digits"),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "parent id must be 16 lowercase hex digits"),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "version must be 2 lowercase hex digits other than ff"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "version 00 has exactly 4 fields"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1", "flags must be 2 lowercase hex digits"),
        ("", "expected 00-"),
    ] as [(String, String?)])
    func traceparentParsingFollowsW3C(text: String, refusal: String?) {
        switch TraceParent.parse(text) {
        case .success(let header):
            #expect(refusal == nil, "accepted \(text)")
            #expect(header.traceID == "0af7651916cd43dd8448eb211c80319c")
            #expect(header.spanID == "b7ad6b7169203331")
        case .failure(let error):
            #expect(refusal.map { error.reason.hasPrefix($0) } == true, "\(text): \(error.reason)")
        }
    }

    @Test func aMalformedTraceparentIsRefusedAndStartsNothing() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                let bad = try #require(await rpcError(endpoint, "workflow/start", [
                    "name": "trace.parent", "workflowId": "bad-trace",
                    "traceparent": .string("00-\(String(repeating: "0", count: 32))-\(Self.callerSpan)-01"),
                ]))
                #expect(bad.code == .invalidParams)
                #expect(bad.message.contains("params.traceparent is not a W3C traceparent: trace id must be 32 lowercase hex"))
                let missing = try #require(await rpcError(endpoint, "workflow/describe", ["workflowId": "bad-trace"]))
                #expect(missing.code != .invalidParams)

                let call = try #require(await rpcError(endpoint, "activity/call", [
                    "name": "trace.flaky", "wait": false, "traceparent": "not-a-traceparent",
                ]))
                #expect(call.code == .invalidParams)
                #expect(call.message.contains("params.traceparent is not a W3C traceparent"))
                let wrongType = try #require(await rpcError(endpoint, "activity/call", ["name": "trace.flaky", "traceparent": 7]))
                #expect(wrongType.code == .invalidParams)
            }
        }
    }
}
