import ArgumentParser
import Foundation
import KeelCore
import KeelSchema
import Testing

@testable import KeelSchemaCLI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `keel schema check --live`: registered contracts against contract files.
@Suite struct CheckLiveTests {
    static let file: JSONValue = try! JSONParser.parse(
        #"""
        {"name":"greet.hello","version":1,
         "input":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]},
         "output":{"type":"object","properties":{"greeting":{"type":"string"}},"required":["greeting"]}}
        """#)

    static func registered(input: String, output: String) throws -> JSONValue {
        try JSONParser.parse(
            #"{"name":"greet.hello","input":"# + input + #","output":"# + output + #","hash":"sha256:00"}"#)
    }

    static let sameInput = #"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#
    static let sameOutput = #"{"type":"object","properties":{"greeting":{"type":"string"}},"required":["greeting"]}"#

    @Test func aRegisteredContractEqualToItsFileMatches() throws {
        let live = ["greet.hello": try Self.registered(input: Self.sameInput, output: Self.sameOutput)]
        let findings = try LiveCheck.compare(registered: live, files: [("c/greet.hello.json", Self.file)])
        #expect(findings.map(\.status) == [.matches])
    }

    @Test func aWorkerThatRequiresMoreInputOrPromisesLessOutputBreaksItsFile() throws {
        let narrower = #"{"type":"object","properties":{"name":{"type":"string"},"lang":{"type":"string"}},"required":["name","lang"]}"#
        let wider = #"{"type":"object","properties":{"greeting":{"type":"string"}}}"#
        let live = ["greet.hello": try Self.registered(input: narrower, output: wider)]
        let findings = try LiveCheck.compare(registered: live, files: [("c/greet.hello.json", Self.file)])
        let f = try #require(findings.first)
        #expect(f.status == .breaking)
        let breaking = f.changes.filter(\.breaking).map { "\($0.role) \($0.pointer)" }
        #expect(breaking.contains("input /required"))
        #expect(breaking.contains("output /required"))
        let github = LiveCheck.render(findings, format: .github)
        #expect(github.allSatisfy { $0.hasPrefix("::error file=c/greet.hello.json,title=contract greet.hello (live)::") })
        // Three breaks, each with its witness: "lang" now required, "lang" (open before) now typed,
        // and "greeting" no longer promised.
        #expect(github.count == 3, "\(github)")
        #expect(github.allSatisfy { $0.contains("; witness: ") })
        #expect(breaking.contains("input /properties/lang"))
        let json = try LiveCheck.render(findings, format: .json).map { try JSONParser.parse($0) }
        #expect(json.first?["status"] == "breaking")
    }

    @Test func aPossiblyBreakingDifferenceFailsOnlyWithStrict() throws {
        let patterned = #"{"type":"object","properties":{"name":{"type":"string","pattern":"^\\w+$"}},"required":["name"]}"#
        let repatterned = #"{"type":"object","properties":{"name":{"type":"string","pattern":"^[A-Za-z0-9_]+$"}},"required":["name"]}"#
        var file = Self.file
        if case .object(var o) = file {
            o["input"] = try JSONParser.parse(patterned)
            file = .object(o)
        }
        let live = ["greet.hello": try Self.registered(input: repatterned, output: Self.sameOutput)]
        let lenient = try LiveCheck.compare(registered: live, files: [("c/greet.hello.json", file)])
        #expect(lenient.map(\.status) == [.compatible])
        #expect(lenient.first?.changes.map(\.verdict) == [.possiblyBreaking])
        #expect(LiveCheck.render(lenient, format: .text).contains { $0.contains("POSSIBLY BREAKING") })
        let strict = try LiveCheck.compare(registered: live, files: [("c/greet.hello.json", file)], strict: true)
        #expect(strict.map(\.status) == [.breaking])
        #expect(LiveCheck.render(strict, format: .github, strict: true).first?.hasPrefix("::error") == true)
    }

    @Test func aCompatibleDifferenceDoesNotFail() throws {
        let moreOutput = #"{"type":"object","properties":{"greeting":{"type":"string"},"lang":{"type":"string"}},"required":["greeting","lang"]}"#
        let live = ["greet.hello": try Self.registered(input: Self.sameInput, output: moreOutput)]
        let findings = try LiveCheck.compare(registered: live, files: [("c/greet.hello.json", Self.file)])
        #expect(findings.map(\.status) == [.compatible])
    }

    @Test func contractsWithoutACounterpartAreReportedNotFailed() throws {
        let live = ["other.thing": try JSONParser.parse(#"{"name":"other.thing","input":true,"output":true,"hash":"h"}"#)]
        let findings = try LiveCheck.compare(registered: live, files: [("c/greet.hello.json", Self.file)])
        #expect(findings.map(\.status) == [.noFile, .notRegistered])
        #expect(LiveCheck.render(findings, format: .github).first?.hasPrefix("::warning title=") == true)
    }

    @Test func workerListResultsAreReadWithTheirContracts() throws {
        let result = try JSONParser.parse(
            #"{"workers":[{"workerId":"w-1","name":"a","activities":["greet.hello"],"workflows":["o.f"],"#
                + #""activityContracts":[{"name":"greet.hello","input":true,"output":true,"hash":"h"}],"#
                + #""workflowContracts":[{"name":"o.f","input":true,"output":true,"hash":"h"}]},"#
                + #"{"workerId":"w-2","name":"b","activities":[],"workflows":[]}]}"#)
        #expect(try LiveCheck.registeredContracts(workerList: result).keys.sorted() == ["greet.hello", "o.f"])
        let old = try JSONParser.parse(#"{"workers":[{"workerId":"w-1","name":"a","activities":["greet.hello"]}]}"#)
        #expect(throws: (any Error).self) { try LiveCheck.registeredContracts(workerList: old) }
    }

    // MARK: - exit status over a socket

    /// Runs `keel schema ARGS`; returns the exit status.
    func exitStatus(_ arguments: [String]) async throws -> Int32 {
        var command = try SchemaCommand.parseAsRoot(arguments)
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        }
    }

    /// A peer on a Unix socket that answers `initialize` and `worker/list` as the orchestrator does
    /// (docs/protocol.md), for one connection: a scripted transcript, like clients/conformance/.
    final class ScriptedOrchestrator: @unchecked Sendable {
        let path: String
        let listener: Int32
        let thread: Thread

        init(workerList: String) throws {
            path = FileManager.default.temporaryDirectory.appending(path: "kc-\(UUID().uuidString.prefix(8)).sock").path
            #if canImport(Glibc)
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            #else
                let fd = socket(AF_UNIX, SOCK_STREAM, 0)
            #endif
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0, listen(fd, 1) == 0 else { throw CocoaError(.fileWriteUnknown) }
            listener = fd
            thread = Thread {
                let conn = accept(fd, nil, nil)
                guard conn >= 0 else { return }
                defer { close(conn) }
                var buffer: [UInt8] = []
                var answered = 0
                while answered < 2 {
                    var chunk = [UInt8](repeating: 0, count: 4096)
                    let n = chunk.withUnsafeMutableBytes { read(conn, $0.baseAddress, $0.count) }
                    guard n > 0 else { return }
                    buffer += chunk[..<n]
                    while let nl = buffer.firstIndex(of: 0x0A) {
                        let line = Array(buffer[..<nl])
                        buffer.removeSubrange(...nl)
                        guard let request = try? JSONParser.parse(line), let id = request["id"] else { continue }
                        let result =
                            request["method"] == "initialize"
                            ? #"{"protocolVersion":"1","serverInfo":{"name":"keel","version":"0.1.0"},"capabilities":{}}"#
                            : workerList
                        var out = Array((#"{"jsonrpc":"2.0","id":"# + JSONWriter.string(id) + #","result":"# + result + "}\n").utf8)
                        _ = out.withUnsafeMutableBytes { write(conn, $0.baseAddress, $0.count) }
                        answered += 1
                    }
                }
            }
            thread.start()
        }

        deinit {
            close(listener)
            unlink(path)
        }
    }

    func contractsDir(_ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appending(path: "keel-live-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try text.write(to: dir.appending(path: "greet.hello.json"), atomically: true, encoding: .utf8)
        return dir.path
    }

    static func workerList(input: String) -> String {
        #"{"workers":[{"workerId":"w-1","name":"hello-worker","activities":["greet.hello"],"activityContracts":[{"name":"greet.hello","input":"#
            + input + #","output":"# + sameOutput + #","hash":"sha256:00"}]}]}"#
    }

    @Test(.timeLimit(.minutes(3)))
    func checkLiveExitsZeroWhenTheRegisteredContractMatches() async throws {
        let dir = try contractsDir(JSONWriter.string(Self.file))
        let peer = try ScriptedOrchestrator(workerList: Self.workerList(input: Self.sameInput))
        #expect(try await exitStatus(["check", "--live", "--socket", peer.path, dir]) == 0)
    }

    @Test(.timeLimit(.minutes(3)))
    func checkLiveExitsOneOnABreakingDifference() async throws {
        let dir = try contractsDir(JSONWriter.string(Self.file))
        let narrower = #"{"type":"object","properties":{"name":{"type":"string","maxLength":3}},"required":["name"]}"#
        let peer = try ScriptedOrchestrator(workerList: Self.workerList(input: narrower))
        #expect(try await exitStatus(["check", "--live", "--socket", peer.path, dir, "--format", "github"]) == 1)
    }

    @Test(.timeLimit(.minutes(3)))
    func checkLiveExitsTwoWithoutAReachableSocket() async throws {
        let dir = try contractsDir(JSONWriter.string(Self.file))
        #expect(try await exitStatus(["check", "--live", "--socket", dir + "/no.sock", dir]) == 2)
        #expect(try await exitStatus(["check", dir]) == 2)  // neither --against nor --live
    }

    @Test(.timeLimit(.minutes(3)))
    func lintSpeaksEveryFormatWithTheSameExitStatus() async throws {
        let good = try contractsDir(JSONWriter.string(Self.file))
        let bad = try contractsDir(#"{"name":"greet.hello","input":{"type":"nope"},"output":true}"#)
        for format in ["text", "json", "github"] {
            #expect(try await exitStatus(["lint", good, "--format", format]) == 0)
            #expect(try await exitStatus(["lint", bad, "--format", format]) == 1)
        }
    }
}
