import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// Issue 13, "the CLI as people use it": the real `keel` binary against a real `keel serve`.
    @Suite("The CLI as people use it", .serialized, .timeLimit(.minutes(3)))
    struct CLIOutputTests {
        let hello = "python3 \(repositoryRoot)/examples/hello/worker.py"
        let cliWorker = "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_cli.py"

        /// Runs `keel` with `--socket` and fails the test on an unexpected exit status.
        func run(_ keel: KeelProcess, _ args: [String], status: Int32 = 0, stdin: [UInt8]? = nil) async throws -> (out: String, err: String) {
            let r = try await keelCLI(args + ["--socket", keel.socket], stdin: stdin)
            #expect(r.0 == status, "keel \(args.joined(separator: " ")): exit \(r.0)\nstdout: \(r.1)\nstderr: \(r.2)")
            return (r.1, r.2)
        }

        @Test func everyCommandTakesFormatAndPrintsTextUnlessAskedForJSON() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [cliWorker])
                try await keel.start()
                try await keel.waitForWorkers(1)
                // Before: start, cancel, resume and call --no-wait printed JSON without being asked.
                let start = try await run(keel, ["workflow", "start", "cli.parent", "{}", "--id", "p1"])
                #expect(start.out.hasPrefix("started cli.parent as p1 (status "), "\(start.out)")
                let again = try await run(keel, ["workflow", "start", "cli.parent", "{}", "--id", "p1", "--format", "json"])
                #expect(try JSONParser.parse(again.out)["started"] == false)
                let alias = try await run(keel, ["workflow", "start", "cli.parent", "{}", "--id", "p1", "--json"])
                #expect(try JSONParser.parse(alias.out)["workflowId"] == "p1")
                let queued = try await run(keel, ["call", "cli.nobody", "{}", "--no-wait", "--schedule-to-start", "0"])
                #expect(queued.out.hasPrefix("queued cli.nobody as task t-"), "\(queued.out)")
                #expect(queued.out.hasSuffix("(status scheduled)\n"))
                let resume = try await run(keel, ["workflow", "resume", "p1"])
                #expect(resume.out.hasPrefix("workflow p1 is "), "\(resume.out)")
                #expect(resume.out.hasSuffix("not parked: nothing to resume\n"))
                let resumeJSON = try await run(keel, ["workflow", "resume", "p1", "--format", "json"])
                #expect(try JSONParser.parse(resumeJSON.out)["workflowId"] == "p1")
                let cancel = try await run(keel, ["workflow", "cancel", "p1"])
                #expect(cancel.out.hasPrefix("cancel requested for workflow p1") || cancel.out == "workflow p1 cancelled\n", "\(cancel.out)")
                let list = try await run(keel, ["workflow", "list", "--format", "json"])
                #expect(try JSONParser.parse(list.out)["workflows"]?.arrayValue?.isEmpty == false)
                for command in [["workers"], ["task", "list"], ["workflow", "describe", "p1"], ["workflow", "history", "p1"]] {
                    let json = try await run(keel, command + ["--format", "json"])
                    #expect((try? JSONParser.parse(json.out)) != nil, "\(command) --format json: \(json.out)")
                }
                let token = try await keelCLI(["token", "new", "--format", "json"])
                #expect(try JSONParser.parse(token.1)["token"]?.stringValue?.count == 64, "\(token)")
                let bad = try await keelCLI(["workers", "--format", "yaml", "--socket", keel.socket])
                #expect(bad.0 == 64)
                #expect(bad.2.contains("text") && bad.2.contains("json"))
                // `schema diff` took only --json; now --format json too, and --json stays.
                let old = dir.file("old.json"), new = dir.file("new.json")
                try Data(#"{"type":"object"}"#.utf8).write(to: URL(fileURLWithPath: old))
                try Data(#"{"type":"object","required":["a"]}"#.utf8).write(to: URL(fileURLWithPath: new))
                for flag in [["--format", "json"], ["--json"]] {
                    let diff = try await keelCLI(["schema", "diff", old, new] + flag)
                    #expect(diff.0 == 1)
                    #expect(try JSONParser.parse(String(diff.1.split(separator: "\n")[0]))["breaking"] == true, "\(diff)")
                }
                keel.stop()
            }
        }

        @Test func describeAndHistoryShowRetriesWakeTimesChildrenTimesAndInputs() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [cliWorker])
                try await keel.start()
                try await keel.waitForWorkers(1)
                _ = try await run(keel, ["workflow", "start", "cli.parent", #"{"order":17}"#, "--id", "p1"])
                _ = try await run(keel, ["workflow", "start", "cli.retrying", #"{"x":1}"#, "--id", "r1"])
                // Wait on the wire for the states to show: the parent asleep, the retrying step failed once.
                #expect(try await eventually(timeout: .seconds(60)) {
                    let h = try await keel.call("workflow/history", ["workflowId": "p1"])
                    return h["entries"]?.arrayValue?.contains { $0["kind"] == "sleep" } == true
                })
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await keel.call("workflow/describe", ["workflowId": "r1"])["currentStep"]?["lastFailure"] != nil
                })
                let parent = try await run(keel, ["workflow", "describe", "p1"])
                // Before: "error     : " from a successful child step's null failure, and no wake time.
                #expect(!parent.out.contains("error"), "\(parent.out)")
                #expect(parent.out.contains("step      #2 sleep"))
                #expect(parent.out.contains("          wakes         20"), "\(parent.out)")
                #expect(parent.out.contains(#"input     {"order":17}"#))
                #expect(parent.out.contains("created   20"))
                let history = try await run(keel, ["workflow", "history", "p1"])
                // Before: "✗ :" on the successful child step, no child id, no times, no inputs.
                #expect(!history.out.contains("✗"), "\(history.out)")
                #expect(history.out.contains("#1 child cli.child completed (child p1/1)"), "\(history.out)")
                #expect(history.out.contains("#2 sleep sleep scheduled wakes 20"))
                #expect(history.out.contains("    at     20"))
                #expect(history.out.contains("    input  {\"input\":{\"order\":17}}"), "\(history.out)")
                let retrying = try await run(keel, ["workflow", "describe", "r1"])
                // Before: only "attempts 1"; the failure and the next attempt's time were JSON-only.
                #expect(retrying.out.contains("          last failure  Flaky: the service said no"), "\(retrying.out)")
                #expect(retrying.out.contains("          next attempt  20"))
                _ = try await run(keel, ["workflow", "cancel", "r1"])
                #expect(try await eventually(timeout: .seconds(30)) {
                    try await keel.call("workflow/describe", ["workflowId": "r1"])["status"] == "cancelled"
                })
                let cancelled = try await run(keel, ["workflow", "describe", "r1"])
                #expect(cancelled.out.contains("status    cancelled  (cancel requested)"), "\(cancelled.out)")
                keel.stop()
            }
        }

        @Test func listIsNewestFirstWithTimesAndFiltersAndHistoryFollowWatchesARun() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [cliWorker])
                try await keel.start()
                try await keel.waitForWorkers(1)
                for id in ["w1", "w2", "w3"] {
                    _ = try await run(keel, ["workflow", "start", "no.such.wf", "--id", id])
                    try await Task.sleep(for: .milliseconds(20))  // distinct creation times
                }
                let page = try await run(keel, ["workflow", "list", "--limit", "2"])
                let lines = page.out.split(separator: "\n").map(String.init)
                #expect(lines.count == 3, "\(page.out)")
                #expect(lines[0].hasPrefix("CREATED (UTC)"))
                #expect(lines[1].hasPrefix("20") && lines[1].contains("  w3  "), "\(page.out)")
                #expect(lines[2].contains("  w2  "))
                // Before: printed on stdout, mixed into the table.
                #expect(page.err.hasPrefix("next page: --cursor "), "\(page.err)")
                let cursor = String(page.err.dropFirst("next page: --cursor ".count).dropLast())
                let rest = try await run(keel, ["workflow", "list", "--limit", "2", "--cursor", cursor])
                #expect(rest.out.contains("  w1  ") && !rest.out.contains("  w2  "), "\(rest.out)")
                let oldest = try await run(keel, ["workflow", "list", "--oldest-first", "--limit", "1"])
                #expect(oldest.out.contains("  w1  "))
                let none = try await run(keel, ["workflow", "list", "--created-before", "2001-01-01"])
                #expect(none.out.split(separator: "\n").count == 1)
                let recent = try await run(keel, ["workflow", "list", "--created-after", "1h"])
                #expect(recent.out.contains("  w1  ") && recent.out.contains("  w3  "))
                let badTime = try await keelCLI(["workflow", "list", "--created-after", "yesterday", "--socket", keel.socket])
                #expect(badTime.0 == 64)
                // --follow prints steps as they happen and ends with the workflow.
                _ = try await run(keel, ["workflow", "start", "cli.quick", "1", "--id", "q1"])
                let follow = try await run(keel, ["workflow", "history", "q1", "--follow", "--interval", "100ms"])
                #expect(follow.out.contains("#2 sleep sleep scheduled"), "\(follow.out)")
                #expect(follow.out.contains("#2 sleep sleep completed"))
                #expect(follow.out.hasSuffix("workflow q1 completed\n"))
                keel.stop()
            }
        }

        @Test func workersShowWorkflowsBacklogAndNodeInAlignedColumns() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello, cliWorker])
                try await keel.start()
                try await keel.waitForWorkers(2)
                _ = try await run(keel, ["call", "greet.helo", "{}", "--no-wait", "--schedule-to-start", "0"])
                _ = try await run(keel, ["workflow", "start", "no.such.wf", "--id", "queued"])
                let out = try await run(keel, ["workers"]).out
                let tables = out.components(separatedBy: "\n\n")
                try #require(tables.count == 2, "\(out)")
                let workers = tables[0].split(separator: "\n").map(String.init)
                #expect(workers.count == 3)
                // Every column starts where its header does, whatever the names' widths.
                let head = Array(workers[0])
                for header in ["LANGUAGE", "NODE", "PID", "ACTIVITIES"] {
                    let column = try #require(workers[0].range(of: header)).lowerBound.utf16Offset(in: workers[0])
                    #expect(head[column - 1] == " ")
                    for row in workers.dropFirst().map(Array.init) {
                        try #require(row.count > column, "\(header) in \(String(row))")
                        #expect(row[column - 1] == " " && row[column] != " ", "\(header) in \(String(row))")
                    }
                }
                // The node: its id, the host name then the process id, a random number and the
                // incarnation.
                let host = ProcessInfo.processInfo.hostName
                let node = "  \(host)-[0-9]+-[0-9]+-1  "
                #expect(
                    workers.dropFirst().allSatisfy { $0.range(of: node, options: .regularExpression) != nil }, "\(out)")
                #expect(workers.contains { $0.contains("cli.parent,cli.quick") || $0.contains("cli.child") })
                let backlog = tables[1].split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
                #expect(backlog[0] == ["NAME", "KIND", "BACKLOG", "WORKERS"])
                #expect(backlog.contains(["greet.helo", "activity", "1", "-"]), "\(tables[1])")
                #expect(backlog.contains(["no.such.wf", "workflow", "1", "-"]))
                #expect(backlog.contains { $0.first == "greet.hello" && $0[2] == "0" })
                #expect(backlog.contains { $0.first == "cli.parent" && $0[1] == "workflow" })
                keel.stop()
            }
        }

        @Test func callErrorsAreJSONOnRequestAndNegativeNumbersAreInput() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello, cliWorker])
                try await keel.start()
                try await keel.waitForWorkers(2)
                // Before: "-5" was an unknown option (exit 64).
                #expect(try await run(keel, ["call", "cli.echo", "-5"]).out == "-5\n")
                #expect(try await run(keel, ["call", "cli.echo", "-2.5e3", "--format", "json"]).out.contains("-2500"))
                let typo = try await keelCLI(["call", "cli.echo", "--nope", "--socket", keel.socket])
                #expect(typo.0 == 64)
                // Before: text on stderr whatever --json said.
                let refused = try await run(keel, ["call", "greet.hello", #"{"nam":1}"#, "--format", "json"], status: 2)
                let error = try JSONParser.parse(refused.err)["error"]
                #expect(error?["code"] == 3001)
                #expect(error?["exitCode"] == 2)
                #expect(error?["data"]?["errors"] != nil)
                // The "no worker serves" notice is JSON too, so stderr stays JSON Lines.
                // 3 s, as in StuckStateTests: the queued answer (and its notice) always comes before the timeout.
                let unserved = try await run(keel, ["call", "greet.helo", "{}", "--schedule-to-start", "3", "--format", "json"], status: 1)
                let notice = try JSONParser.parse(String(unserved.err.split(separator: "\n")[0]))["notice"]?["message"]?.stringValue
                #expect(notice?.contains("no worker serves greet.helo") == true, "\(unserved.err)")
                #expect(try JSONParser.parse(unserved.out)["status"] == "timedOut")
                let notJSON = try await run(keel, ["call", "greet.hello", "{oops", "--json"], status: 2)
                #expect(try JSONParser.parse(notJSON.err)["error"]?["message"]?.stringValue?.contains("not JSON") == true)
                let unreachable = try await keelCLI(["call", "x.y", "1", "--format", "json", "--socket", dir.file("nobody.sock")])
                #expect(unreachable.0 == 3)
                #expect(try JSONParser.parse(unreachable.2)["error"]?["exitCode"] == 3)
                // Invalid UTF-8 on stdin is refused by `workflow start -` too (it was replaced there).
                let bytes = try await keelCLI(["workflow", "start", "cli.quick", "-", "--socket", keel.socket], stdin: [0x22, 0xFF, 0x22])
                #expect(bytes.0 == 2)
                #expect(bytes.2.contains("invalid UTF-8"), "\(bytes.2)")
                keel.stop()
            }
        }

        @Test func serveTakesActivityLimits() async throws {
            try await TemporaryDirectory.with { dir in
                let bad = try await keelCLI(["serve", "--db", dir.file("x.db"), "--socket", dir.file("x.sock"), "--activity-limit", "cli.slow=concurrency:0"])
                #expect(bad.0 == 64)
                #expect(bad.2.contains("maxConcurrent must be from 1"), "\(bad.2)")
                let log = dir.file("effects.jsonl")
                let socket = dir.file("k.sock")
                let serve = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", socket, "--worker", cliWorker,
                     "--activity-limit", "cli.slow=concurrency:1,rate:600/m"],
                    logPath: dir.file("keel.log"), environment: ["KEEL_E2E_LOG": log])
                defer { serve.kill9() }
                let up = try await eventually(timeout: .seconds(90)) {
                    let w = try? await KeelClient.withClient(.unixSocket(path: socket)) { try await $0.call("worker/list", [:]) }
                    return w?["workers"]?.arrayValue?.isEmpty == false
                }
                try #require(up, "\(serve.log)")
                for n in 1...3 { _ = try await keelCLI(["call", "cli.slow", "\(n)", "--no-wait", "--socket", socket]) }
                #expect(try await eventually(timeout: .seconds(60)) { sideEffects(log).filter { $0["event"] == "done" }.count == 3 })
                // One at a time: each start comes after the previous attempt's end (the worker takes 8 at once).
                let events = sideEffects(log).compactMap { $0["event"]?.stringValue }
                #expect(events == ["start", "done", "start", "done", "start", "done"], "\(events)")
            }
        }

        @Test func devDoesNotPrintAHistoryCommandThatCannotWorkAfterItExits() async throws {
            try await TemporaryDirectory.with { dir in
                let config: JSONValue = [
                    "workers": [["command": .string(cliWorker)]], "run": ["workflow": "cli.child", "workflowId": "d1", "input": 1],
                ]
                try Data(JSONWriter.string(config).utf8).write(to: URL(fileURLWithPath: dir.file("keel.json")))
                let dev = try await keelCLI(["dev", dir.path])
                #expect(dev.0 == 0, "\(dev)")
                #expect(dev.1.contains("completed: {\"child\":1}"))
                // Before: "history: keel workflow history d1 --socket …", a socket closed by then.
                #expect(!dev.1.contains("keel workflow history"), "\(dev.1)")
                #expect(dev.1.contains("--serve"))
            }
        }

        @Test func devAndServeReadLimitsWithOneParser() async throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            // Before: keel.json's limits were read without checks, and a zero concurrency stalled the activity.
            try Data(#"{"activities": {"cli.slow": {"maxConcurrent": 0}}}"#.utf8).write(to: URL(fileURLWithPath: dir.file("keel.json")))
            let dev = try await keelCLI(["dev", dir.path])
            #expect(dev.0 != 0)
            #expect(dev.2.contains("activities.cli.slow: maxConcurrent must be from 1 to 1000000, not 0"), "\(dev)")
            let serve = try await keelCLI(["serve", "--db", dir.file("x.db"), "--socket", dir.file("x.sock"),
                "--activity-limit", #"cli.slow={"maxConcurrent":0}"#])
            #expect(serve.0 == 64)
            #expect(serve.2.contains("--activity-limit cli.slow: maxConcurrent must be from 1 to 1000000, not 0"), "\(serve)")
        }

        @Test func installPutsKeelOnAPathAndTheReadmeUsesIt() async throws {
            try await TemporaryDirectory.with { dir in
                let prefix = dir.file("prefix")
                // KEEL_INSTALL_BINARY skips the release build: the install step itself is what is tested here.
                let p = Process()
                p.executableURL = URL(fileURLWithPath: repositoryRoot + "/.ci/install")
                var env = ProcessInfo.processInfo.environment
                env["PREFIX"] = prefix
                env["KEEL_INSTALL_BINARY"] = PackagePaths.keelBinary
                env["PATH"] = "/usr/bin:/bin"
                p.environment = env
                let out = Pipe()
                p.standardOutput = out
                p.standardError = FileHandle.nullDevice
                try p.run()
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                #expect(p.terminationStatus == 0)
                #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/keel"))
                #expect(text.contains("export PATH=\"\(prefix)/bin:$PATH\""), "\(text)")
                let version = try await keelCLIAt(prefix + "/bin/keel", ["--version"])
                #expect(version.hasPrefix("0."))
                let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
                #expect(!readme.contains(".build/debug/keel"))
                #expect(readme.contains(".ci/install"))
            }
        }
    }
}

/// Runs a `keel` binary at `path` and returns its stdout.
private func keelCLIAt(_ path: String, _ args: [String]) async throws -> String {
    try await offCooperativePool { try keelCLIAtBlocking(path, args) }
}

private func keelCLIAtBlocking(_ path: String, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
