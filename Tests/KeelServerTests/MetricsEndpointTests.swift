import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelServer
import KeelStorage
import KeelTesting
import Logging
import Testing

/// `--metrics-listen` (issue 14): a real orchestrator with the Prometheus listener on a free port,
/// a real worker, real calls, and `/metrics` read over a real TCP socket. Activity and workflow
/// names are this suite's own, so tests of other suites running in the same process (and
/// recording into the same process-wide registry) cannot move the series checked here.
@Suite("Prometheus metrics endpoint", .serialized, .timeLimit(.minutes(3)))
struct MetricsEndpointTests {
    /// Runs `body` with an orchestrator whose metrics listener took a free port.
    private func withMetrics(
        _ body: @escaping @Sendable (Endpoint, Int) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: { $0.metricsAddress = ListenAddress(host: "127.0.0.1", port: 0) }) {
                endpoint, server in
                let port = try #require(try await server.ready().metricsPort)
                #expect(port > 0)
                try await body(endpoint, port)
                return true
            }
        }
    }

    private func scrape(_ port: Int) async throws -> PrometheusText {
        let response = try await HTTPProbe.request("GET", "/metrics", port: port)
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        return try PrometheusText(response.body)
    }

    private func makeMetricsWorker(_ endpoint: Endpoint, drifted: Counter = Counter()) -> Worker {
        let w = Worker(name: "metrics-worker", endpoint: endpoint, maxConcurrent: 4)
        w.activity("metrics.ok") { (input: JSONValue, _) -> JSONValue in input }
        w.activity("metrics.fail") { (_: JSONValue, _) -> JSONValue in
            throw ActivityFailure("declined", type: "Declined", retryable: false)
        }
        w.activity("metrics.flaky") { (_: JSONValue, ctx) -> JSONValue in
            if ctx.attempt < 3 { throw ActivityFailure("not yet", type: "Transient", retryable: true) }
            return ["attempt": JSONValue(ctx.attempt)]
        }
        w.workflow("metrics.flow") { (_: JSONValue, ctx) -> JSONValue in
            try await ctx.activity("metrics.ok", ["from": "flow"], as: JSONValue.self)
        }
        w.workflow("metrics.doomed") { (_: JSONValue, _) -> JSONValue in
            throw ActivityFailure("gave up", type: "GaveUp", retryable: false)
        }
        w.activity("metrics.typed", input: personSchema, output: greetingSchema) { (input: JSONValue, _) -> JSONValue in
            input["name"] == "bad output" ? ["greeting": 5] : ["greeting": "hi"]
        }
        w.activity("metrics.stuck") { (_: JSONValue, ctx) -> JSONValue in
            // Runs until the orchestrator cancels it (its start-to-close timeout), bounded at 60 s.
            for _ in 0..<600 where !ctx.isCancelled { _ = await ctx.sleep(for: .milliseconds(100)) }
            return [:]
        }
        w.workflow("metrics.waiter") { (_: JSONValue, ctx) -> JSONValue in
            try await ctx.signal("go", as: JSONValue.self)
        }
        // Waits for a signal; once `drifted` is bumped (a bad deploy) it sleeps there instead.
        w.workflow("metrics.drift") { (_: JSONValue, ctx) -> JSONValue in
            if drifted.get("deploy") == 0 { return try await ctx.signal("go", as: JSONValue.self) }
            try await ctx.sleep(for: .seconds(1))
            return "drifted"
        }
        return w
    }

    @Test func countersAndHistogramsMoveByExactlyTheEventsThatHappened() async throws {
        try await withMetrics { endpoint, port in
            try await LiveOrchestrator.withWorker(makeMetricsWorker(endpoint)) {
                try await waitForWorkers(endpoint, 1)
                let before = try await scrape(port)

                #expect(try await call(endpoint, "metrics.ok", ["n": 1])["status"] == "completed")
                #expect(try await call(endpoint, "metrics.fail", [:])["status"] == "failed")
                let flaky = try await call(
                    endpoint, "metrics.flaky", [:], extra: ["retryPolicy": ["initialIntervalMs": 10, "backoffCoefficient": 1]])
                #expect(flaky["status"] == "completed")
                #expect(flaky["attempts"] == 3)
                _ = try await start(endpoint, "metrics.flow", [:], id: "metrics-flow-1")
                #expect(try await result(endpoint, "metrics-flow-1")["status"] == "completed")
                _ = try await start(endpoint, "metrics.doomed", [:], id: "metrics-doomed-1")
                #expect(try await result(endpoint, "metrics-doomed-1")["status"] == "failed")

                let after = try await scrape(port)
                func delta(_ name: String, _ labels: [String: String]) -> Double {
                    after.value(name, labels) - before.value(name, labels)
                }
                let ok = ["activity": "metrics.ok"], fail = ["activity": "metrics.fail"]
                let flakyName = ["activity": "metrics.flaky"]
                // metrics.ok ran twice: the call and the workflow's step.
                #expect(delta("keel_activity_tasks_scheduled_total", ok) == 2)
                #expect(delta("keel_activity_attempts_started_total", ok) == 2)
                #expect(delta("keel_activity_tasks_completed_total", ok) == 2)
                #expect(delta("keel_activity_tasks_failed_total", ok) == 0)
                #expect(delta("keel_activity_tasks_scheduled_total", fail) == 1)
                #expect(delta("keel_activity_tasks_failed_total", fail) == 1)
                #expect(delta("keel_activity_tasks_completed_total", fail) == 0)
                #expect(delta("keel_activity_attempts_retried_total", fail) == 0)
                #expect(delta("keel_activity_tasks_scheduled_total", flakyName) == 1)
                #expect(delta("keel_activity_attempts_started_total", flakyName) == 3)
                #expect(delta("keel_activity_attempts_retried_total", flakyName) == 2)
                // Every failed attempt by its failure's type: metrics.fail's final one included.
                #expect(delta("keel_activity_attempts_failed_total", ["activity": "metrics.fail", "type": "Declined"]) == 1)
                #expect(delta("keel_activity_attempts_failed_total", ["activity": "metrics.flaky", "type": "Transient"]) == 2)
                #expect(delta("keel_activity_attempts_failed_total", ok) == 0)
                #expect(delta("keel_activity_tasks_completed_total", flakyName) == 1)
                #expect(delta("keel_activity_timeouts_total", flakyName) == 0)
                // One observation per attempt in each latency histogram.
                #expect(delta("keel_activity_schedule_to_start_seconds_count", flakyName) == 3)
                #expect(delta("keel_activity_start_to_close_seconds_count", flakyName) == 3)
                #expect(delta("keel_activity_start_to_close_seconds_count", ok) == 2)
                #expect(after.value("keel_activity_start_to_close_seconds_bucket", flakyName.merging(["le": "+Inf"]) { a, _ in a })
                    == after.value("keel_activity_start_to_close_seconds_count", flakyName))
                // Workflows, by name and status.
                #expect(delta("keel_workflows_started_total", ["workflow": "metrics.flow"]) == 1)
                #expect(delta("keel_workflows_closed_total", ["workflow": "metrics.flow", "status": "completed"]) == 1)
                #expect(delta("keel_workflows_started_total", ["workflow": "metrics.doomed"]) == 1)
                #expect(delta("keel_workflows_closed_total", ["workflow": "metrics.doomed", "status": "failed"]) == 1)
                #expect(delta("keel_workflows_closed_total", ["workflow": "metrics.doomed", "status": "completed"]) == 0)
                #expect(delta("keel_workflow_duration_seconds_count", ["workflow": "metrics.flow"]) == 1)
                // Gauges read at scrape time.
                #expect(after.value("keel_activity_workers", ok) == 1)
                #expect(after.value("keel_workers_connected") >= 1)
                #expect(after.value("keel_workflows_open") >= 0)
                #expect(after.types["keel_workflows_open"] == "gauge")
                // The store committed all that, in batches.
                #expect(delta("keel_store_commit_seconds_count", [:]) >= 10)
                #expect(after.value("keel_store_commit_batch_size_sum") >= after.value("keel_store_commit_batch_size_count"))
                #expect(after.types["keel_store_commit_seconds"] == "histogram")
                #expect(after.types["keel_activity_tasks_scheduled_total"] == "counter")
                // The standard process metrics, from /proc.
                #expect(after.value("process_resident_memory_bytes") > 1_000_000)
                #expect(after.value("process_open_fds") > 3)
                #expect(after.value("process_max_fds") >= after.value("process_open_fds"))
                #expect(after.value("process_cpu_seconds_total") > 0)
                #expect(after.types["process_cpu_seconds_total"] == "counter")
                let started = after.value("process_start_time_seconds")
                #expect(started > 1_600_000_000 && started <= Date().timeIntervalSince1970 + 1)
            }
        }
    }

    @Test func timeoutsAndEndsOtherThanCompletionAreCountedByKind() async throws {
        try await withMetrics { endpoint, port in
            try await LiveOrchestrator.withWorker(makeMetricsWorker(endpoint)) {
                try await waitForWorkers(endpoint, 1)
                let before = try await scrape(port)
                // One attempt, cut by its start-to-close timeout: the task ends timed out.
                let stuck = try await call(
                    endpoint, "metrics.stuck", [:],
                    extra: ["timeouts": ["startToCloseMs": 300], "retryPolicy": ["maximumAttempts": 1]])
                #expect(stuck["status"] == "timedOut", "\(stuck)")
                // No worker serves this name: its schedule-to-start timeout ends it.
                let unserved = try await call(endpoint, "metrics.unserved", [:], extra: ["timeouts": ["scheduleToStartMs": 100]])
                #expect(unserved["status"] == "timedOut", "\(unserved)")
                // A workflow waiting for a signal, terminated; another ended by its execution timeout.
                _ = try await start(endpoint, "metrics.waiter", [:], id: "metrics-terminated-1")
                let ended = try await KeelClient.withClient(endpoint) {
                    try await $0.call("workflow/terminate", ["workflowId": "metrics-terminated-1", "reason": "test"])
                }
                #expect(ended["status"] == "terminated")
                _ = try await KeelClient.withClient(endpoint) {
                    try await $0.call(
                        "workflow/start",
                        ["name": "metrics.waiter", "workflowId": "metrics-timed-out-1", "executionTimeoutMs": 300])
                }
                #expect(try await result(endpoint, "metrics-timed-out-1")["status"] == "timedOut")
                // One no worker serves, so no node holds it: the cluster loop's sweep ends it.
                _ = try await KeelClient.withClient(endpoint) {
                    try await $0.call(
                        "workflow/start",
                        ["name": "metrics.nobody", "workflowId": "metrics-timed-out-2", "executionTimeoutMs": 300])
                }
                #expect(try await result(endpoint, "metrics-timed-out-2")["status"] == "timedOut")

                let after = try await scrape(port)
                func delta(_ name: String, _ labels: [String: String]) -> Double {
                    after.value(name, labels) - before.value(name, labels)
                }
                let name = ["activity": "metrics.stuck"]
                #expect(delta("keel_activity_timeouts_total", name.merging(["timeout": "start_to_close"]) { a, _ in a }) == 1)
                #expect(delta("keel_activity_timeouts_total", name.merging(["timeout": "heartbeat"]) { a, _ in a }) == 0)
                #expect(delta("keel_activity_tasks_timed_out_total", name) == 1)
                #expect(delta("keel_activity_tasks_failed_total", name) == 0)
                #expect(delta("keel_activity_attempts_retried_total", name) == 0)
                #expect(delta("keel_activity_start_to_close_seconds_count", name) == 1)
                // The attempt ran at least its 300 ms timeout.
                #expect(delta("keel_activity_start_to_close_seconds_sum", name) >= 0.3)
                let unservedName = ["activity": "metrics.unserved"]
                #expect(delta("keel_activity_timeouts_total", ["activity": "metrics.unserved", "timeout": "schedule_to_start"]) == 1)
                #expect(delta("keel_activity_tasks_timed_out_total", unservedName) == 1)
                #expect(delta("keel_activity_attempts_started_total", unservedName) == 0)
                let waiter = ["workflow": "metrics.waiter"]
                #expect(delta("keel_workflows_started_total", waiter) == 2)
                #expect(delta("keel_workflows_closed_total", waiter.merging(["status": "terminated"]) { a, _ in a }) == 1)
                #expect(delta("keel_workflows_closed_total", waiter.merging(["status": "timed_out"]) { a, _ in a }) == 1)
                #expect(delta("keel_workflows_closed_total", waiter.merging(["status": "completed"]) { a, _ in a }) == 0)
                #expect(delta("keel_workflows_closed_total", ["workflow": "metrics.nobody", "status": "timed_out"]) == 1)
            }
        }
    }

    @Test func workflowRunsAndAParkAreCounted() async throws {
        try await withMetrics { endpoint, port in
            let drifted = Counter()
            try await LiveOrchestrator.withWorker(makeMetricsWorker(endpoint, drifted: drifted)) {
                try await waitForWorkers(endpoint, 1)
                let before = try await scrape(port)
                _ = try await start(endpoint, "metrics.drift", [:], id: "metrics-drift-1")
                let describe: @Sendable () async throws -> JSONValue = {
                    try await KeelClient.withClient(endpoint) {
                        try await $0.call("workflow/describe", ["workflowId": "metrics-drift-1"])
                    }
                }
                #expect(try await eventually(timeout: .seconds(30)) { try await describe()["status"] == "suspended" })
                drifted.bump("deploy")
                _ = try await KeelClient.withClient(endpoint) {
                    try await $0.call("workflow/signal", ["workflowId": "metrics-drift-1", "name": "go", "payload": 1])
                }
                #expect(try await eventually(timeout: .seconds(30)) { try await describe()["status"] == "parked" })
                let after = try await scrape(port)
                let drift = ["workflow": "metrics.drift"]
                func delta(_ name: String) -> Double { after.value(name, drift) - before.value(name, drift) }
                // The first run (suspended on the signal) and the re-run the signal woke (parked).
                #expect(delta("keel_workflow_runs_started_total") == 2)
                #expect(delta("keel_workflow_schedule_to_start_seconds_count") == 2)
                #expect(delta("keel_workflows_parked_total") == 1)
                #expect(delta("keel_workflows_closed_total") == 0)
                #expect(after.value("keel_workflows_parked") >= 1)
                #expect(after.value("keel_workflow_workers", drift) == 1)
                #expect(after.value("keel_workflow_backlog", drift) == 0)
            }
        }
    }

    @Test func contractViolationsAreCountedByKindNameAndDirection() async throws {
        try await withMetrics { endpoint, port in
            try await LiveOrchestrator.withWorker(makeMetricsWorker(endpoint)) {
                try await waitForWorkers(endpoint, 1)
                let before = try await scrape(port)
                await #expect(throws: KeelError.self) { try await call(endpoint, "metrics.typed", ["name": 5]) }
                let refused = try await call(endpoint, "metrics.typed", ["name": "bad output"])
                #expect(refused["failure"]?["type"] == "OutputContractViolation", "\(refused)")
                #expect(try await call(endpoint, "metrics.typed", ["name": "fine"])["status"] == "completed")
                let after = try await scrape(port)
                func delta(_ direction: String) -> Double {
                    let labels = ["kind": "activity", "name": "metrics.typed", "direction": direction]
                    return after.value("keel_contract_violations_total", labels)
                        - before.value("keel_contract_violations_total", labels)
                }
                #expect(delta("input") == 1)
                #expect(delta("output") == 1)
                // The attempt whose output broke the contract is a failed attempt of that type.
                let violation = ["activity": "metrics.typed", "type": "OutputContractViolation"]
                #expect(after.value("keel_activity_attempts_failed_total", violation)
                    - before.value("keel_activity_attempts_failed_total", violation) == 1)
            }
        }
    }

    @Test func aWorkerThatLeavesIsNoLongerCountedAndTheBacklogShows() async throws {
        try await withMetrics { endpoint, port in
            try await LiveOrchestrator.withWorker(makeMetricsWorker(endpoint)) {
                try await waitForWorkers(endpoint, 1)
                #expect(try await scrape(port).value("keel_activity_workers", ["activity": "metrics.fail"]) == 1)
            }
            // The worker is gone: its names report 0 workers, and a call for one waits in the backlog.
            let stale = try await eventually(timeout: .seconds(30)) {
                try await scrape(port).value("keel_activity_workers", ["activity": "metrics.fail"]) == 0
            }
            #expect(stale)
            _ = try await KeelClient.withClient(endpoint) {
                try await $0.call("activity/call", ["name": "metrics.queued", "input": [:], "wait": false])
            }
            #expect(try await scrape(port).value("keel_activity_backlog", ["activity": "metrics.queued"]) == 1)
            // Its age grows while it waits.
            let aging = try await eventually(timeout: .seconds(30)) {
                try await scrape(port).value("keel_activity_backlog_oldest_seconds", ["activity": "metrics.queued"]) >= 1
            }
            #expect(aging, "the oldest backlog age did not grow")
            _ = try await start(endpoint, "metrics.flow", [:], id: "metrics-queued-flow")
            let queued = try await scrape(port)
            #expect(queued.value("keel_workflow_backlog", ["workflow": "metrics.flow"]) == 1)
            #expect(queued.value("keel_workflow_workers", ["workflow": "metrics.flow"]) == 0)
        }
    }

    @Test func healthzAnswersOkAndOtherPathsAndMethodsAreRefused() async throws {
        try await withMetrics { _, port in
            let health = try await HTTPProbe.request("GET", "/healthz", port: port)
            #expect(health.status == 200)
            #expect(health.body == "ok\n")
            #expect(try await HTTPProbe.request("GET", "/", port: port).status == 404)
            #expect(try await HTTPProbe.request("GET", "/metrics/extra", port: port).status == 404)
            let post = try await HTTPProbe.request("POST", "/metrics", port: port)
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET")
            #expect(try await HTTPProbe.request("DELETE", "/healthz", port: port).status == 405)
            // Not HTTP: NIO's decoder answers 400 and closes.
            #expect(try await HTTPProbe.send("HELLO THERE\r\n\r\n", port: port).status == 400)
            // A query string does not change the route.
            #expect(try await HTTPProbe.request("GET", "/metrics?x=1", port: port).status == 200)
        }
    }

    @Test func authFailuresAndRejectedFramesAreCounted() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.metricsAddress = ListenAddress(host: "127.0.0.1", port: 0)
                $0.socketRequiresToken = true
                $0.token = Self.adminToken
                $0.limits.maxFrameBytes = 4_096
            }) { _, server in
                let port = try #require(try await server.ready().metricsPort)
                let before = try await scrape(port)
                let path = dir.file("k.sock")
                let bad = try RawSocket(path: path)
                await bad.send(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1","token":"wrong"}}"# + "\n")
                #expect(await bad.readLine()?["error"]?["code"] == -32004)
                let garbled = try RawSocket(path: path)
                await garbled.send("{not json\n")
                #expect(await garbled.readLine()?["error"]?["code"] == -32700)
                let big = try RawSocket(path: path)
                await big.send(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1","token":""#
                    + Self.adminToken + "\"}}\n")
                #expect(await big.readLine()?["result"] != nil)
                await big.send("{\"x\":\"" + String(repeating: "a", count: 10_000) + "\"}\n")
                #expect(await big.readLine()?["error"]?["code"] == -32002)
                let after = try await scrape(port)
                // Other suites in this process may add to these process-wide series, never take away.
                #expect(after.value("keel_frames_rejected_total", ["reason": "oversize"])
                    - before.value("keel_frames_rejected_total", ["reason": "oversize"]) >= 1)
                #expect(after.value("keel_auth_failures_total", ["transport": "unix", "reason": "unknown_token"])
                    - before.value("keel_auth_failures_total", ["transport": "unix", "reason": "unknown_token"]) >= 1)
                #expect(after.value("keel_frames_rejected_total", ["reason": "malformed"])
                    - before.value("keel_frames_rejected_total", ["reason": "malformed"]) >= 1)
                return true
            }
        }
    }

    static let adminToken = "metrics-suite-admin-token-0123456789abcdef"

    @Test func namesPastTheCapAreReportedAsOther() {
        let bound = MetricLabelBound(limit: 2)
        #expect(bound.label("a") == "a")
        #expect(bound.label("b") == "b")
        #expect(bound.label("c") == MetricLabelBound.other)
        #expect(bound.label("a") == "a", "a name admitted before the cap keeps its series")
        #expect(bound.label("d") == "other")
        #expect(MetricLabelBound().limit == 1_000)
    }

    @Test func aPortInUseStopsTheStartWithOneSentence() async throws {
        try await withMetrics { _, port in
            try await TemporaryDirectory.with { other in
                var options = KeelServer.Options(databasePath: other.file("keel.db"))
                options.socketPath = other.file("k.sock")
                options.metricsAddress = ListenAddress(host: "127.0.0.1", port: port)
                let second = KeelServer(options: options, logger: .init(label: "test"))
                let error = await #expect(throws: KeelError.self) { try await second.run() }
                #expect(error?.message == "cannot listen for metrics on 127.0.0.1:\(port) (--metrics-listen): the address is in use")
                // It stopped before listening on its socket.
                #expect(!FileManager.default.fileExists(atPath: other.file("k.sock")))
            }
        }
    }

    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464), ("0.0.0.0:0", "0.0.0.0", 0), ("[::1]:80", "::1", 80),
        ("localhost:65535", "localhost", 65535),
    ])
    func validListenAddressesParse(text: String, host: String, port: Int) throws {
        #expect(try ListenAddress(parsing: text) == ListenAddress(host: host, port: port))
    }

    @Test(arguments: ["9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:80", "[::1]80", "host:port"])
    func badListenAddressesAreRefused(text: String) {
        #expect(throws: KeelError.self) { try ListenAddress(parsing: text) }
    }
}
