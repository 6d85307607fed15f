import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
/// docs/guarantees.md "Stopping": SIGTERM or SIGINT drains and exits 0, and the workers Keel
/// spawned are stopped, never restarted, once the stop began. Before the fix `keel dev`
/// cancelled its server on SIGTERM: the restart backoff no longer waited, its workers were
/// restarted thousands of times and it never exited (it took kill -9).
@Suite("Graceful stop with spawned workers", .serialized, .timeLimit(.minutes(4)))
struct GracefulStopTests {
    /// Generous: CI runs on 2 busy cores. The drain itself is bounded by 10 s and each worker's
    /// exit by 3 s after stdin closes plus 3 s after SIGTERM.
    static let exitWithin: Duration = .seconds(40)
    static let worker = "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_approval.py"

    /// Sends `signal` and waits (bounded) for the process to exit; returns its status, nil if it did not.
    func stop(_ process: ChildProcess, with signal: Int32 = SIGTERM) async throws -> Int32? {
        kill(process.pid, signal)
        let exited = try await eventually(timeout: Self.exitWithin) { !process.isRunning }
        return exited ? process.exitStatus : nil
    }

    /// The log lines after the first that contains `marker`.
    func lines(of log: String, after marker: String) -> [Substring] {
        let all = log.split(separator: "\n")
        guard let start = all.firstIndex(where: { $0.contains(marker) }) else { return [] }
        return Array(all[start...])
    }

    /// The `delayMs` of each "worker exited; restarting" line, in order.
    func restartDelays(_ log: String) -> [Int] {
        log.split(separator: "\n").filter { $0.contains("worker exited; restarting") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("delayMs=") }.flatMap { Int($0.dropFirst(8)) }
        }
    }

    /// Waits until the run is parked on its signal wait (its journal shows the scheduled signal).
    func waitingForSignal(_ endpoint: Endpoint, _ id: String) async throws -> Bool {
        try await eventually(timeout: .seconds(90)) {
            let history = try? await KeelClient.withClient(endpoint) {
                try await $0.call("workflow/history", ["workflowId": .string(id)])
            }
            return history?["entries"]?.arrayValue?.contains { $0["kind"] == "signal" } ?? false
        }
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func keelServeStopsItsWorkersAndExitsZero(signal: Int32) async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir, workers: [Self.worker])
            try await keel.start()
            try await keel.waitForWorkers(1)
            _ = try await keel.call("workflow/start", ["name": "approval.wait", "workflowId": "wait-1", "input": 1])
            #expect(try await waitingForSignal(keel.endpoint, "wait-1"), "\(keel.process?.log ?? "")")
            let process = try #require(keel.process)
            let began = ContinuousClock.now
            let status = try await stop(process, with: signal)
            let log = process.log
            #expect(status == 0, "keel serve did not exit 0 within \(Self.exitWithin) of signal \(signal): \(log)")
            if status == nil { process.kill9() }
            let afterStop = lines(of: log, after: "shutting down")
            #expect(!afterStop.isEmpty, "no drain in the log: \(log)")
            #expect(!afterStop.contains { $0.contains("restarting") }, "a worker was restarted during the stop: \(log)")
            print("keel serve stopped in \(began.duration(to: .now)) after signal \(signal)")
        }
    }

    /// A worker that exits at once, over and over, is restarted after 100 ms, 200 ms, 400 ms…
    /// (never in a tight loop), and a stop during the wait starts it no more.
    @Test func aCrashLoopingWorkerBacksOffAndAStopEndsIt() async throws {
        try await TemporaryDirectory.with { dir in
            let keel = KeelProcess(dir: dir, workers: ["sh -c 'exit 3'"])
            try await keel.start()
            let process = try #require(keel.process)
            #expect(
                try await eventually(timeout: .seconds(60)) { restartDelays(process.log).count >= 4 }, "\(process.log)")
            let status = try await stop(process)
            if status == nil { process.kill9() }
            let log = process.log
            #expect(status == 0, "keel serve did not exit 0 within \(Self.exitWithin) of SIGTERM: \(log)")
            let seen = restartDelays(log)
            #expect(Array(seen.prefix(4)) == [100, 200, 400, 800], "no exponential backoff: \(seen)")
            #expect(seen.count < 12, "too many restarts before the stop: \(seen)")
            #expect(!lines(of: log, after: "shutting down").contains { $0.contains("restarting") }, "\(log)")
        }
    }

    @Test func keelDevStopsOnSIGTERMWhileTheWorkflowWaitsForASignal() async throws {
        try await TemporaryDirectory.with { dir in
            let config: JSONValue = [
                "db": "state/keel.db", "socket": "state/keel.sock",
                "workers": [["name": "approval", "command": .string(Self.worker)]],
                "run": ["workflow": "approval.wait", "workflowId": "dev-wait", "input": 1],
            ]
            try JSONWriter.string(config).write(toFile: dir.file("keel.json"), atomically: true, encoding: .utf8)
            let dev = try ChildProcess(
                [PackagePaths.keelBinary, "dev", dir.path, "--verbose", "--no-ui"], logPath: dir.file("dev.log"))
            defer { if dev.isRunning { dev.kill9() } }
            #expect(
                try await waitingForSignal(.unixSocket(path: dir.file("state/keel.sock")), "dev-wait"), "\(dev.log)")
            let began = ContinuousClock.now
            let status = try await stop(dev)
            let log = dev.log
            #expect(status == 0, "keel dev did not exit 0 within \(Self.exitWithin) of SIGTERM: \(log)")
            let afterStop = lines(of: log, after: "shutting down")
            #expect(!afterStop.isEmpty, "no drain in the log: \(log)")
            #expect(!afterStop.contains { $0.contains("restarting") }, "a worker was restarted during the stop: \(log)")
            #expect(!log.contains("CancellationError"), "the server was cancelled instead of drained: \(log)")
            print("keel dev stopped in \(began.duration(to: .now))")
        }
    }
}
}
