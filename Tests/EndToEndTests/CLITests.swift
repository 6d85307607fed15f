import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Testing

/// Runs the built `keel` binary and returns (exit status, stdout, stderr).
/// `stdin` is written to the process's standard input (else it reads /dev/null).
/// Runs the real `keel` binary with `args` and returns (exit status, stdout, stderr), waiting on a
/// thread of its own so a long command never holds a cooperative thread (``offCooperativePool(_:)``).
func keelCLI(_ args: [String], env: [String: String] = [:], stdin: [UInt8]? = nil) async throws -> (Int32, String, String) {
    try await offCooperativePool { try keelCLIBlocking(args, env: env, stdin: stdin) }
}

private func keelCLIBlocking(_ args: [String], env: [String: String], stdin: [UInt8]?) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: PackagePaths.keelBinary)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try p.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
    }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

extension EndToEnd {
    @Suite("The keel CLI and the orchestrator's life cycle", .serialized, .timeLimit(.minutes(3)))
    struct CLITests {
        let hello = "python3 \(repositoryRoot)/examples/hello/worker.py"
        let pyWorker = "python3 \(repositoryRoot)/Tests/EndToEndTests/workers/py_activities.py"

        @Test func aMistypedSubcommandIsAnsweredWithTheOnesCloseToIt() async throws {
            let top = try await keelCLI(["wokers"])
            #expect(top.0 == 64)
            #expect(top.2.contains("Error: 'wokers' is not a keel command. Did you mean 'workers'?"), "\(top.2)")
            let nested = try await keelCLI(["workflow", "lst", "--limit", "3"])
            #expect(nested.0 == 64)
            #expect(nested.2.contains("'lst' is not a keel workflow command. Did you mean 'list'?"), "\(nested.2)")
            // Nothing close: the parser's own answer; a real subcommand and `help` are untouched.
            let far = try await keelCLI(["zzzzzz"])
            #expect(far.2.contains("Unexpected argument 'zzzzzz'"), "\(far.2)")
            #expect(try await keelCLI(["help", "workers"]).1.contains("List connected workers"))
        }

        @Test func callAndWorkflowStartTakeAPriorityAndAFairnessKey() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [])
                try await keel.start()
                let s = ["--socket", keel.socket]
                let queued = try await keelCLI(
                    ["call", "prio.cli", "{}", "--no-wait", "--priority", "7", "--fairness-key", "acme", "--format", "json"] + s)
                #expect(queued.0 == 0, "\(queued.2)")
                let listed = try await keelCLI(["task", "list", "--name", "prio.cli"] + s)
                #expect(listed.1.contains("priority 7, fairness key acme"), "\(listed.1)")
                let started = try await keelCLI(["workflow", "start", "prio.flow", "{}", "--id", "wf-cli", "--priority=-3"] + s)
                #expect(started.0 == 0, "\(started.2)")
                let described = try await keelCLI(["workflow", "describe", "wf-cli"] + s)
                #expect(described.1.contains("priority  -3\n"), "\(described.1)")
                let outOfRange = try await keelCLI(["call", "prio.cli", "{}", "--priority", "1001"] + s)
                #expect(outOfRange.0 == 64)
                #expect(outOfRange.2.contains("--priority must be from -1000 to 1000"), "\(outOfRange.2)")
            }
        }

        @Test func callWorkersAndWorkflowCommandsPrintResultsAndUseExitCodes() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello])
                try await keel.start()
                try await keel.waitForWorkers(1)
                let s = ["--socket", keel.socket]
                let ok = try await keelCLI(["call", "greet.hello", #"{"name":"Ada"}"#] + s)
                #expect(ok.0 == 0)
                #expect(ok.1 == "{\"greeting\":\"Hello, Ada\"}\n")
                let bad = try await keelCLI(["call", "greet.hello", #"{"nam":"Ada"}"#] + s)
                #expect(bad.0 == 2)
                #expect(bad.2.contains("required property \"name\" is missing"))
                #expect(bad.2.contains("3001"))
                let notJSON = try await keelCLI(["call", "greet.hello", "{oops"] + s)
                #expect(notJSON.0 == 2)
                let unreachable = try await keelCLI(["call", "greet.hello", "{}", "--socket", dir.file("nobody.sock")])
                #expect(unreachable.0 == 3)
                #expect(unreachable.2.contains("Is `keel serve` running?"))
                let workers = try await keelCLI(["workers"] + s)
                #expect(workers.0 == 0)
                #expect(workers.1.contains("hello-worker"))
                #expect(workers.1.contains("stdio"))
                #expect(workers.1.contains("greet.hello"))
                let json = try await keelCLI(["workers", "--json"] + s)
                #expect(try JSONParser.parse(json.1).arrayValue?.first?["language"] == "python")
                let unknown = try await keelCLI(["workflow", "describe", "nope"] + s)
                #expect(unknown.0 == 2)
                #expect(unknown.2.contains("no workflow nope"))
                let help = try await keelCLI(["--help"])
                for sub in ["serve", "dev", "call", "workflow", "workers", "schema", "bench"] {
                    #expect(help.1.contains(sub), "keel --help lists \(sub)")
                }
                let badFlag = try await keelCLI(["serve", "--sync", "sometimes"])
                #expect(badFlag.0 != 0)
                #expect(badFlag.2.contains("--sync takes full or normal"))
                keel.stop()
            }
        }

        @Test func sigtermDrainsRunningWorkThenExits() async throws {
            try await TemporaryDirectory.with { dir in
                let log = dir.file("effects.jsonl")
                let keel = KeelProcess(dir: dir, workers: [pyWorker])
                try await keel.start(environment: ["KEEL_E2E_LOG": log])
                try await keel.waitForWorkers(1)
                let started = try await keel.call("activity/call", ["name": "e2e.double", "input": ["n": 4, "sleep": 1], "wait": false])
                #expect(try await eventually { sideEffects(log).contains { $0["event"] == "start" } })
                let t0 = ContinuousClock.now
                keel.stop()  // SIGTERM, then wait for exit
                #expect(t0.duration(to: .now) < .seconds(15))
                // The attempt was drained, not abandoned: done once, and recorded complete.
                #expect(sideEffects(log).filter { $0["event"] == "done" }.count == 1)
                try await keel.start(environment: ["KEEL_E2E_LOG": log])
                let r = try await keel.call("activity/result", ["taskId": started["taskId"]!, "waitTimeoutMs": 0])
                #expect(r["status"] == "completed")
                #expect(r["attempts"] == 1)
                keel.stop()
            }
        }

        @Test func aStdioWorkerThatDiesIsRestarted() async throws {
            try await TemporaryDirectory.with { dir in
                let keel = KeelProcess(dir: dir, workers: [hello])
                try await keel.start()
                try await keel.waitForWorkers(1)
                let first = Int32(try await keel.call("worker/list", [:])["workers"]?.arrayValue?.first?["pid"]?.int64Value ?? 0)
                try #require(first > 0)
                kill(first, SIGKILL)
                let restarted = try await eventually(timeout: .seconds(20)) {
                    let w = try await keel.call("worker/list", [:])["workers"]?.arrayValue ?? []
                    return w.count == 1 && w.first?["pid"]?.int64Value.map(Int32.init) != first
                }
                #expect(restarted)
                let ok = try await keelCLI(["call", "greet.hello", #"{"name":"again"}"#, "--socket", keel.socket])
                #expect(ok.1.contains("Hello, again"))
                keel.stop()
            }
        }
    }
}
