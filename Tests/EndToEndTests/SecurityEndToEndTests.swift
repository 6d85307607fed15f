import Foundation
import KeelCore
import KeelTesting
import Testing

extension EndToEnd {
    /// The attacks of issue 11 that need the real `keel` binary: its environment, its flags.
    @Suite("Security with the real binary", .serialized, .timeLimit(.minutes(3)))
    struct SecurityEndToEndTests {
        static let adminToken = "e2e-admin-token-0123456789abcdef"

        @Test func aSpawnedWorkerGetsNoKeelTokenAndCannotShutKeelDown() async throws {
            try await TemporaryDirectory.with { dir in
                let report = dir.file("report.json")
                let keel = KeelProcess(dir: dir, workers: ["python3 \(repositoryRoot)/Tests/EndToEndTests/workers/env_reporter.py"])
                try await keel.start(environment: [
                    "KEEL_TOKEN": Self.adminToken, "KEEL_DB_PASSWORD": "hunter2-hunter2", "KEEL_REPORT": report,
                ])
                defer { keel.stop() }
                let written = try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: report) }
                #expect(written, "no report: \(keel.process?.log ?? "")")
                let data = try #require(FileManager.default.contents(atPath: report))
                let r = try JSONParser.parse(Array(data))
                let names = r["keelVariables"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(!names.contains("KEEL_TOKEN") && !names.contains("KEEL_DB_PASSWORD"), "\(names)")
                #expect(names.contains("KEEL_TRANSPORT") && names.contains("KEEL_REPORT"))
                #expect(r["initialize"]?["result"]?["roles"] == ["client", "worker"])
                #expect(r["shutdown"]?["error"]?["code"] == -32004, "\(r)")
                #expect(r["shutdown"]?["error"]?["data"]?["required"] == "admin")
                // The orchestrator is still up.
                #expect(try await keel.call("ping", [:]) == [:])
                let log = keel.process?.log ?? ""
                #expect(log.contains("worker started") && !log.contains(Self.adminToken))
            }
        }

        @Test func aTokenFileOthersCanReadAndAShortTokenAreRefusedAtStart() async throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let file = dir.file("admin.token")
            FileManager.default.createFile(atPath: file, contents: Data((Self.adminToken + "\n").utf8))
            chmod(file, 0o644)
            let base = ["serve", "--db", dir.file("keel.db"), "--socket", dir.file("k.sock")]
            let (status, _, stderr) = try await keelCLI(base + ["--token-file", file])
            #expect(status != 0)
            #expect(stderr.contains("chmod 600"), "\(stderr)")
            #expect(!stderr.contains(Self.adminToken))

            let (shortStatus, shortOut, shortErr) = try await keelCLI(base + ["--token", "abc123"])
            #expect(shortStatus != 0)
            #expect((shortOut + shortErr).contains("/proc/PID/cmdline"), "no warning about --token")
            #expect(shortErr.contains("at least 16 bytes"), "\(shortErr)")
            #expect(!shortErr.contains("abc123"))
        }

        @Test func keelTokenNewPrintsAFreshRandomToken() async throws {
            let (s1, first, _) = try await keelCLI(["token", "new"])
            let (s2, second, _) = try await keelCLI(["token", "new"])
            #expect(s1 == 0 && s2 == 0)
            let token = first.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
            #expect(token != second.trimmingCharacters(in: .whitespacesAndNewlines))
        }

        @Test func aSocketThatRequiresATokenServesTheCLIOnlyWithOne() async throws {
            try await TemporaryDirectory.with { dir in
                let file = dir.file("admin.token")
                FileManager.default.createFile(atPath: file, contents: Data(Self.adminToken.utf8))
                chmod(file, 0o600)
                let socket = dir.file("k.sock")
                let keel = try ChildProcess(
                    [PackagePaths.keelBinary, "serve", "--db", dir.file("keel.db"), "--socket", socket, "--token-file", file,
                     "--socket-requires-token"],
                    logPath: dir.file("keel.log"))
                defer { keel.terminate() }
                let up = try await eventually(timeout: .seconds(20)) {
                    (try await keelCLI(["workers", "--socket", socket, "--token-file", file])).0 == 0
                }
                #expect(up, "\(keel.log)")
                #expect(keel.log.contains("socket=token tokens=admin"), "the start-up line shows what is set up")
                let (status, _, stderr) = try await keelCLI(["workers", "--socket", socket])
                #expect(status != 0)
                #expect(stderr.contains("-32004"), "\(stderr)")
                let logged = try await eventually { keel.log.contains("authentication failed") }
                #expect(logged, "\(keel.log)")
                #expect(!keel.log.contains(Self.adminToken))
                let (released, out, _) = try await keelCLI(["contract", "release", "greet.hello", "--socket", socket, "--token-file", file])
                #expect(released == 0)
                #expect(out.contains("had no owned contract"), "\(out)")
            }
        }

        @Test func aSpawnedWorkerRedeployedWithANewContractKeepsItsName() async throws {
            try await TemporaryDirectory.with { dir in
                let contract = dir.file("contract.json")
                func declare(_ schema: JSONValue) {
                    let text = JSONWriter.string(["name": "redeploy.me", "input": schema])
                    FileManager.default.createFile(atPath: contract, contents: Data(text.utf8))
                }
                func answer(_ life: Int) async throws -> JSONValue {
                    let path = contract + ".answer-\(life)"
                    let written = try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: path) }
                    #expect(written, "no answer \(life)")
                    return try JSONParser.parse(Array(FileManager.default.contents(atPath: path) ?? Data()))
                }
                declare(["type": "object"])
                let keel = KeelProcess(
                    dir: dir, workers: ["python3 \(repositoryRoot)/Tests/EndToEndTests/workers/register_reporter.py \(contract)"])
                try await keel.start()
                defer { keel.stop() }
                let first = try await answer(1)
                #expect(first["answer"]?["result"]?["workerId"] != nil, "\(first)")
                // The operator changes the schema; the worker restarts (as after a redeploy).
                declare(["type": "object", "required": ["id"]])
                kill(pid_t(first["pid"]?.int64Value ?? 0), SIGKILL)
                let second = try await answer(2)
                #expect(second["answer"]?["result"]?["workerId"] != nil, "\(second)")
            }
        }
    }
}
