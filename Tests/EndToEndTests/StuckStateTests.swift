import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 13's stuck states, seen from the `keel` CLI: each says what is happening and ends.
    @Suite("The CLI never leaves a person waiting in silence", .serialized, .timeLimit(.minutes(3)))
    struct StuckStateTests {
        let hello = "python3 \(repositoryRoot)/examples/hello/worker.py"

        @Test func aCallNoWorkerServesIsReportedAtOnceAndTimesOutAfterScheduleToStart() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello])
                try await keel.start()
                try await keel.waitForWorkers(1)
                let s = ["--socket", keel.socket]
                // Before: printed nothing and never returned.
                // 3 s: long enough that the queued answer always comes first, even on a loaded machine.
                let typo = try await keelCLI(["call", "greet.helo", "{}", "--schedule-to-start", "3"] + s)
                #expect(typo.0 == 1)
                #expect(typo.1 == "")
                #expect(typo.2.contains(
                    "keel: no worker serves greet.helo; waiting up to 3 s for one (--schedule-to-start to change); did you mean greet.hello?"))
                #expect(typo.2.contains("keel call: greet.helo timedOut after 0 attempt(s): ScheduleToStartTimeout"))
                // The default limit is 60 s; the notice names it.
                let queued = try await keelCLI(["call", "greet.helo", "{}", "--no-wait", "--format", "json"] + s)
                #expect(queued.0 == 0)
                #expect(queued.2.contains("waiting up to 60 s for one"))
                let answer = try JSONParser.parse(queued.1)
                #expect(answer["waitingForWorker"] == true)
                #expect(answer["suggestions"] == ["greet.hello"])
                let forever = try await keelCLI(["call", "greet.helo", "{}", "--no-wait", "--schedule-to-start", "0"] + s)
                #expect(forever.2.contains("waiting for one with no limit"))
                // A served name says nothing extra.
                let ok = try await keelCLI(["call", "greet.hello", #"{"name":"Ada"}"#] + s)
                #expect(ok.0 == 0)
                #expect(ok.2 == "")
                keel.stop()
            }
        }

        @Test func aWorkflowNoWorkerServesIsReportedAndResultTimeoutIsNotSuccess() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello])
                try await keel.start()
                try await keel.waitForWorkers(1)
                let s = ["--socket", keel.socket]
                let start = try await keelCLI(["workflow", "start", "no.such.wf", "--id", "wf-stuck"] + s)
                #expect(start.0 == 0)
                #expect(start.2.contains("keel: no worker serves workflow no.such.wf; it stays pending until one connects"))
                let describe = try await keelCLI(["workflow", "describe", "wf-stuck"] + s)
                #expect(describe.0 == 0)
                #expect(describe.1.contains("waiting   for a worker for workflow no.such.wf"))
                // Before: "keel: workflow suspended: : " (or pending) and exit 0.
                let result = try await keelCLI(["workflow", "result", "wf-stuck", "--timeout", "1s"] + s)
                #expect(result.0 == 4)
                #expect(result.1 == "")
                #expect(result.2 == "keel: workflow wf-stuck is still running (status pending); waited 1 s\n")
                keel.stop()
            }
        }

        @Test func taskListDescribeAndCancelShowAndEndAQueuedCall() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello])
                try await keel.start()
                try await keel.waitForWorkers(1)
                let s = ["--socket", keel.socket]
                let queued = try await keelCLI(["call", "greet.helo", "{}", "--no-wait", "--schedule-to-start", "0", "--format", "json"] + s)
                let id = try #require(try JSONParser.parse(queued.1)["taskId"]?.stringValue)
                let list = try await keelCLI(["task", "list"] + s)
                #expect(list.0 == 0)
                #expect(list.1.contains(id))
                #expect(list.1.contains("scheduled"))
                #expect(list.1.contains("(no worker serves it)"))
                let describe = try await keelCLI(["task", "describe", id] + s)
                #expect(describe.0 == 0)
                #expect(describe.1.contains("status    scheduled"))
                #expect(describe.1.contains("waiting   for a worker for greet.helo (did you mean greet.hello?)"))
                let cancel = try await keelCLI(["task", "cancel", id] + s)
                #expect(cancel.0 == 0)
                #expect(cancel.1 == "task \(id) cancelled\n")
                let empty = try await keelCLI(["task", "list", "--json"] + s)
                #expect(try JSONParser.parse(empty.1)["count"] == 0)
                let ended = try await keelCLI(["task", "describe", id] + s)
                #expect(ended.1.contains("status    cancelled"))
                let missing = try await keelCLI(["task", "cancel", "t-nope"] + s)
                #expect(missing.0 == 2)
                keel.stop()
            }
        }
    }
}
