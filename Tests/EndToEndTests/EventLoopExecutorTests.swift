import Foundation
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
/// `keel serve --concurrency-on-event-loops` (or `KEEL_NIO_EXECUTOR=1`) runs Swift concurrency on
/// NIO's event loops (Sources/keel/EventLoopExecutor.swift, docs/performance.md "Thread
/// crossings"): the loop count is then fixed at the top of `main` from `--event-loops` (the
/// parser's later attempt to size NIO's group would otherwise trap: it may be set once). With and
/// without it, with each loop count, the server starts, serves activities through a real Python
/// worker, and stops cleanly.
@Suite("Concurrency on the event loops", .serialized, .timeLimit(.minutes(3)))
struct EventLoopExecutorTests {
    static let worker = "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_activities.py"

    @Test(arguments: [
        ([String](), [String: String]()),
        (["--concurrency-on-event-loops"], [:]),
        (["--concurrency-on-event-loops", "--event-loops", "2"], [:]),
        (["--event-loops=3"], ["KEEL_NIO_EXECUTOR": "1"]),
        (["--event-loops", "2"], [:]),
    ])
    func theServerStartsWithEachLoopCountAndServesActivities(arguments: [String], environment: [String: String])
        async throws
    {
        try await TemporaryDirectory.with { dir in
            let log = dir.file("effects.jsonl")
            let keel = KeelProcess(dir: dir, workers: [Self.worker], arguments: arguments)
            try await keel.start(environment: environment.merging(["KEEL_E2E_LOG": log]) { a, _ in a })
            try await keel.waitForWorkers(1)
            for n in 1...20 {
                let r = try await keel.call("activity/call", ["name": "e2e.double", "input": ["n": .init(n), "sleep": 0]])
                #expect(r["output"]?["n"] == .init(n * 2), "\(r)")
            }
            let process = try #require(keel.process)
            keel.stop()
            #expect(process.exitStatus == 0, "\(process.log)")
        }
    }
}
}
