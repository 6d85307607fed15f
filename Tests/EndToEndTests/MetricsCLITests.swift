import Foundation
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// `keel serve --metrics-listen` as an operator runs it (issue 14): the built binary, its
    /// log line with the bound address, and one-line refusals with exit 1 at start.
    @Suite("keel serve --metrics-listen", .serialized, .timeLimit(.minutes(3)))
    struct MetricsCLITests {
        /// Runs `keel serve` with `extra` arguments and waits (up to 30 s) for it to exit.
        private func serveExpectingExit(_ dir: TemporaryDirectory, _ extra: [String]) async throws -> ChildProcess {
            let p = try ChildProcess(
                [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock")] + extra,
                logPath: dir.file("serve.log"))
            let exited = try await eventually(timeout: .seconds(30)) { !p.isRunning }
            if !exited { p.kill9() }
            #expect(exited, "keel serve kept running: \(p.log)")
            return p
        }

        private func lines(_ log: String) -> [Substring] { log.split(separator: "\n").filter { !$0.isEmpty } }

        @Test(arguments: ["9464", "localhost", "127.0.0.1:99999", "[::1]9464"])
        func aBadValueIsOneLineAndExit1(value: String) async throws {
            try await TemporaryDirectory.with { dir in
                let p = try await serveExpectingExit(dir, ["--metrics-listen", value])
                #expect(p.exitStatus == 1, "\(p.log)")
                #expect(lines(p.log).count == 1, "\(p.log)")
                #expect(p.log.hasPrefix("keel serve: --metrics-listen \"\(value)\" is not HOST:PORT: "), "\(p.log)")
                #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))
            }
        }

        @Test func aPortInUseIsOneLineAndExit1() async throws {
            try await TemporaryDirectory.with { dir in
                let holder = try LoopbackListener()
                let p = try await serveExpectingExit(dir, ["--metrics-listen", "127.0.0.1:\(holder.port)"])
                #expect(p.exitStatus == 1, "\(p.log)")
                #expect(lines(p.log).count == 1, "\(p.log)")
                #expect(
                    p.log.contains("cannot listen for metrics on 127.0.0.1:\(holder.port) (--metrics-listen): the address is in use"),
                    "\(p.log)")
                #expect(!FileManager.default.fileExists(atPath: dir.file("k.sock")))
            }
        }

        @Test func portZeroLogsTheBoundAddressWhichServesMetricsAndHealth() async throws {
            try await TemporaryDirectory.with { dir in
                let p = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock"),
                     "--metrics-listen", "127.0.0.1:0"],
                    logPath: dir.file("serve.log"))
                defer { p.kill9() }
                let logged = try await eventually(timeout: .seconds(30)) { boundPort(p.log) != nil }
                #expect(logged, "\(p.log)")
                let bound = try #require(boundPort(p.log))
                #expect(bound > 0)
                let metrics = try await HTTPProbe.request("GET", "/metrics", port: bound)
                #expect(metrics.status == 200)
                let text = try PrometheusText(metrics.body)
                #expect(text.types["keel_store_commit_seconds"] == "histogram")
                #expect(text.value("keel_store_commit_seconds_count") >= 1)
                let health = try await HTTPProbe.request("GET", "/healthz", port: bound)
                #expect(health.status == 200 && health.body == "ok\n")
                p.terminate()
                let stopped = try await eventually(timeout: .seconds(30)) { !p.isRunning }
                #expect(stopped, "\(p.log)")
                #expect(p.exitStatus == 0, "\(p.log)")
            }
        }
    }
}

/// The port in `keel is serving`'s `metrics=http://127.0.0.1:PORT/metrics`.
private func boundPort(_ log: String) -> Int? {
    guard let range = log.range(of: #"metrics=http://127\.0\.0\.1:[0-9]+/metrics"#, options: .regularExpression) else {
        return nil
    }
    return Int(log[range].dropFirst("metrics=http://127.0.0.1:".count).dropLast("/metrics".count))
}
