import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// `keel serve --trace-file` as an operator runs it (issue 14, traces): the built binary
    /// writes OTLP/JSON lines, and a path it cannot open stops it at start with one line.
    @Suite("keel serve --trace-file", .serialized, .timeLimit(.minutes(3)))
    struct TraceCLITests {
        @Test func aCallsAttemptIsWrittenInTheCallersTraceAndItsWorkerGetsTheSpan() async throws {
            try await TemporaryDirectory.with { dir in
                let socket = dir.file("k.sock"), spans = dir.file("spans.jsonl")
                let serve = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", socket,
                     "--handshake-timeout", "60", "--trace-file", spans],
                    logPath: dir.file("keel.log"))
                defer { serve.kill9() }
                let endpoint = Endpoint.unixSocket(path: socket)
                let up = try await eventually(timeout: .seconds(30)) {
                    (try? await KeelClient.withClient(endpoint) { try await $0.call("ping") }) != nil
                }
                try #require(up, "\(serve.log)")
                let received = Locked<String?>(nil)
                let worker = Worker(name: "trace-cli-worker", endpoint: endpoint)
                worker.activity("trace.echo") { (input: JSONValue, ctx) -> JSONValue in
                    received.withLock { $0 = ctx.traceparent }
                    return input
                }
                let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                let answer = try await LiveOrchestrator.withWorker(worker) {
                    _ = try await eventually(timeout: .seconds(60)) {
                        let w = try? await KeelClient.withClient(endpoint) { try await $0.call("worker/list", [:]) }
                        return w?["workers"]?.arrayValue?.isEmpty == false
                    }
                    return try await KeelClient.withClient(endpoint) {
                        try await $0.call("activity/call", [
                            "name": "trace.echo", "input": ["x": 1], "traceparent": .string(caller), "waitTimeoutMs": 60_000,
                        ])
                    }
                }
                #expect(answer["status"] == "completed")
                let lines = try String(contentsOfFile: spans, encoding: .utf8).split(separator: "\n")
                try #require(lines.count == 1, "\(lines)")
                let span = try JSONParser.parse(String(lines[0]))["resourceSpans"]?.arrayValue?.first?["scopeSpans"]?
                    .arrayValue?.first?["spans"]?.arrayValue?.first
                #expect(span?["name"] == "activity trace.echo")
                #expect(span?["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736")
                #expect(span?["parentSpanId"] == "00f067aa0ba902b7")
                let spanID = try #require(span?["spanId"]?.stringValue)
                #expect(received.withLock { $0 } == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(spanID)-01")
            }
        }

        @Test func aTraceFileThatCannotBeOpenedIsOneLineAndExit1() async throws {
            try await TemporaryDirectory.with { dir in
                let p = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock"),
                     "--trace-file", dir.file("missing/spans.jsonl")],
                    logPath: dir.file("serve.log"))
                let exited = try await eventually(timeout: .seconds(30)) { !p.isRunning }
                if !exited { p.kill9() }
                #expect(exited && p.exitStatus == 1, "\(p.log)")
                #expect(p.log.split(separator: "\n").filter { !$0.isEmpty }.count == 1, "\(p.log)")
                #expect(p.log.hasPrefix("keel serve: --trace-file: cannot open the trace file "), "\(p.log)")
                #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))
            }
        }
    }
}
