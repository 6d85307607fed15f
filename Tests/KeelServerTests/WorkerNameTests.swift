import Foundation
import KeelClient
import KeelCore
import KeelServer
import KeelTesting
import Testing

/// docs/protocol.md "Worker lifecycle": how `KEEL_WORKER_NAME` is derived from `--worker`'s
/// command, and that it names a spawned worker whose `worker/register` gives no name.
@Suite("Spawned worker names", .serialized, .timeLimit(.minutes(1)))
struct WorkerNameTests {
    @Test(arguments: [
        ("python3 path/to/w.py", "w.py"),
        ("perl ./w.pl", "w.pl"),
        ("node --enable-source-maps w.js", "node"),
        ("./bin/calc-worker --fast", "calc-worker"),
        ("/usr/bin/env", "env"),
    ])
    func theNameIsTheScriptForAnInterpreterElseTheProgram(command: String, name: String) throws {
        #expect(try WorkerSpec(command: command).name == name)
    }

    @Test func aSpawnedWorkerGetsItAndIsListedUnderItWhenItRegistersWithoutAName() async throws {
        try await TemporaryDirectory.with { dir in
            let script = dir.file("named_worker.py")
            let report = dir.file("name.txt")
            let source = """
                import json, os, sys
                with open(\(String(reflecting: report)), "w") as f:
                    f.write(os.environ.get("KEEL_WORKER_NAME", "<unset>"))
                def send(message):
                    sys.stdout.write(json.dumps(message) + "\\n"); sys.stdout.flush()
                send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "1"}})
                sys.stdin.readline()
                send({"jsonrpc": "2.0", "id": 2, "method": "worker/register", "params": {"activities": [{"name": "named.echo"}]}})
                for line in sys.stdin:
                    pass
                """
            try source.write(toFile: script, atomically: true, encoding: .utf8)
            let spec = try WorkerSpec(command: "python3 \(script)")
            try await LiveOrchestrator.with(in: dir, configure: { $0.workers = [spec] }) { endpoint, _ in
                let listed = try await eventually(timeout: .seconds(30)) {
                    try await KeelClient.withClient(endpoint) { try await $0.workers() }
                        .contains { $0["name"] == "named_worker.py" && $0["transport"] == "stdio" }
                }
                #expect(listed, "the worker was not listed as named_worker.py")
                #expect((try? String(contentsOfFile: report, encoding: .utf8)) == "named_worker.py")
            }
        }
    }
}
