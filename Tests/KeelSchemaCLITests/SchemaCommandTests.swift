import ArgumentParser
import Foundation
import KeelCore
import KeelSchema
import Testing

@testable import KeelSchemaCLI

/// `keel schema …` through argument parsing, with real files in a temp folder.
@Suite struct SchemaCommandTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "keel-schema-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = dir.appending(path: name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Runs the command; returns its exit status (0 when `run()` returns normally).
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

    static let contract = ##"""
        {"name":"billing.charge","version":1,"description":"Charge a card.",
         "input":{"type":"object","required":["amount"],"properties":{"amount":{"type":"integer","minimum":1},
                  "currency":{"enum":["EUR","USD"]}}},
         "output":{"type":"object","required":["chargeId"],"properties":{"chargeId":{"type":"string"},
                   "status":{"enum":["ok","pending"]}}}}
        """##

    @Test(.timeLimit(.minutes(3)))
    func validateExitsZeroOneOrTwo() async throws {
        let schema = try file("s.json", ##"{"type":"object","properties":{"n":{"minimum":0}}}"##)
        let good = try file("good.json", ##"{"n":1}"##)
        let bad = try file("bad.json", ##"{"n":-1}"##)
        let scalar = try file("scalar.json", "5")
        let notJSON = try file("broken.json", "{")
        #expect(try await exitStatus(["validate", schema, good]) == 0)
        #expect(try await exitStatus(["validate", schema, good, bad, "--format", "json"]) == 1)
        #expect(try await exitStatus(["validate", schema, scalar, "--format", "github"]) == 1)
        #expect(try await exitStatus(["validate", notJSON, good]) == 2)
        #expect(try await exitStatus(["validate", schema, notJSON]) == 2)
        let unresolvable = try file("ref.json", ##"{"$ref":"https://example.com/missing.json"}"##)
        #expect(try await exitStatus(["validate", unresolvable, good]) == 2)
    }

    @Test(.timeLimit(.minutes(3)))
    func validateResolvesRemoteRefsThroughRemoteBase() async throws {
        _ = try file("remotes/money.json", ##"{"$defs":{"amount":{"type":"integer"}}}"##)
        let schema = try file("s.json", ##"{"$ref":"http://schemas.test/money.json#/$defs/amount"}"##)
        let good = try file("good.json", "5")
        let base = "http://schemas.test/=" + dir.appending(path: "remotes").path
        #expect(try await exitStatus(["validate", schema, good, "--remote-base", base]) == 0)
        #expect(try await exitStatus(["validate", schema, good]) == 2)
    }

    @Test func validateBatchAnswersOneLinePerRequest() throws {
        let batch = try #require(try SchemaCommand.parseAsRoot(["validate-batch"]) as? ValidateBatchCommand)
        let cache = ValidatorCache()
        #expect(batch.answer(##"{"schema":{"type":"integer"},"instance":1}"##, cache) == ##"{"valid":true}"##)
        #expect(batch.answer(##"{"schema":{"type":"integer"},"instance":1.5}"##, cache) == ##"{"valid":false}"##)
        #expect(batch.answer(##"{"schema":false,"instance":null}"##, cache) == ##"{"valid":false}"##)
        #expect(batch.answer(##"{"schema":{"$ref":"#/nope"},"instance":1}"##, cache).hasPrefix(##"{"error":"##))
        #expect(batch.answer("not json", cache).hasPrefix(##"{"error":"##))
        #expect(cache.count == 2)
    }

    @Test(.timeLimit(.minutes(3)))
    func lintAcceptsAGoodContractAndReportsBrokenOnes() async throws {
        let good = try file("contracts/charge.json", Self.contract)
        #expect(try await exitStatus(["lint", good]) == 0)
        _ = try file("bad/typo.json", ##"{"type":"objekt"}"##)
        _ = try file("bad/ref.json", ##"{"properties":{"a":{"$ref":"#/$defs/missing"}}}"##)
        _ = try file("bad/contract.json", ##"{"name":"Bad Name!","input":{"type":"object"}}"##)
        #expect(try await exitStatus(["lint", dir.appending(path: "bad").path]) == 1)
        let linter = Linter(registry: SchemaRegistry(), options: ValidatorOptions())
        #expect(linter.lint(value: try JSONParser.parse(##"{"type":"objekt"}"##)).count >= 1)
        #expect(
            linter.lint(value: try JSONParser.parse(##"{"$ref":"#/$defs/missing"}"##)).first?.contains(
                "#/$defs/missing") == true)
        #expect(linter.lint(value: try JSONParser.parse(Self.contract)).isEmpty)
        // What the orchestrator refuses with 3003, lint reports: a pattern only backtracking can run.
        #expect(
            linter.lint(value: ["pattern": "^(a)\\1$"]).first?.contains("cannot be matched in linear time") == true)
        #expect(
            linter.lint(value: ["pattern": "^[a-z]+(-?[(-[a-z0-9]+)*h]ttp"]).first?.contains("linear time") == true)
    }

    @Test func diffClassifiesInputNarrowingAndOutputWideningAsBreaking() throws {
        func changes(_ role: ContractDiff.Role, _ old: String, _ new: String) throws -> [ContractDiff.Change] {
            ContractDiff.compare(role: role, old: try JSONParser.parse(old), new: try JSONParser.parse(new))
        }
        let base =
            ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1,2]}}}"##
        // Inputs: what callers may send.
        let newRequired = try changes(
            .input, base,
            ##"{"type":"object","required":["a","b"],"properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1,2]}}}"##
        )
        #expect(newRequired.map(\.breaking) == [true] && newRequired[0].pointer == "/required")
        #expect(
            try changes(
                .input, base,
                ##"{"type":"object","required":["a"],"properties":{"a":{"type":"string","minLength":1},"b":{"enum":[1,2]}}}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .input, base,
                ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null"],"minLength":2},"b":{"enum":[1,2]}}}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .input, base,
                ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1]}}}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .input, base,
                ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1,2]}},"additionalProperties":false}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .input, base,
                ##"{"type":"object","properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1,2,3]}}}"##
            ).allSatisfy { !$0.breaking })
        // Outputs: what consumers read.
        let removed = try changes(
            .output, base,
            ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null"],"minLength":1}}}"##)
        #expect(removed.map(\.breaking) == [true] && removed[0].pointer == "/properties/b")
        #expect(
            try changes(
                .output, base,
                ##"{"type":"object","properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1,2]}}}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .output, base,
                ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null","integer"],"minLength":1},"b":{"enum":[1,2]}}}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .output, base,
                ##"{"type":"object","required":["a"],"properties":{"a":{"type":["string","null"],"minLength":1},"b":{"enum":[1,2,3]}}}"##
            ).map(\.breaking) == [true])
        #expect(
            try changes(
                .output, base,
                ##"{"type":"object","required":["a","b"],"properties":{"a":{"type":"string","minLength":1},"b":{"enum":[1,2]},"c":{"type":"string"}}}"##
            ).allSatisfy { !$0.breaking })
        // A change inside a referenced definition is found through the $ref.
        let refOld = ##"{"$defs":{"m":{"type":"integer","minimum":0}},"properties":{"x":{"$ref":"#/$defs/m"}}}"##
        let refNew = ##"{"$defs":{"m":{"type":"integer","minimum":5}},"properties":{"x":{"$ref":"#/$defs/m"}}}"##
        #expect(try changes(.input, refOld, refNew).map(\.pointer) == ["/properties/x/$ref/minimum"])
    }

    @Test(.timeLimit(.minutes(3)))
    func diffExitsOneOnBreakingChanges() async throws {
        let old = try file("old.json", Self.contract)
        let same = try file("same.json", Self.contract)
        let narrowed = try file(
            "new.json",
            Self.contract.replacingOccurrences(
                of: #""required":["amount"]"#, with: #""required":["amount","currency"]"#))
        #expect(try await exitStatus(["diff", old, same]) == 0)
        #expect(try await exitStatus(["diff", old, narrowed, "--json"]) == 1)
    }

    @Test(.timeLimit(.minutes(3)))
    func diffShowsWitnessesFailsOnPossibleBreaksOnlyWhenStrictAndAnnotatesForGitHub() async throws {
        // A pattern replaced by another: not decided, no witness -> possibly breaking.
        let old = try file("p-old.json", ##"{"type":"string","pattern":"^[0-9]+$"}"##)
        let new = try file("p-new.json", ##"{"type":"string","pattern":"^\\d+$"}"##)
        #expect(try await exitStatus(["diff", old, new]) == 0)
        #expect(try await exitStatus(["diff", old, new, "--strict"]) == 1)
        #expect(try await exitStatus(["diff", old, new, "--format", "github"]) == 0)
        #expect(try await exitStatus(["diff", old, new, "--format", "github", "--strict"]) == 1)
        let narrowed = try file("n-new.json", ##"{"type":"string","pattern":"^[0-9]+$","maxLength":2}"##)
        #expect(try await exitStatus(["diff", old, narrowed, "--format", "json"]) == 1)
        let changes = try DiffCommand.changes(
            old: try SchemaFiles.readJSON(old), new: try SchemaFiles.readJSON(narrowed), role: "input")
        let change = try #require(changes.first)
        #expect(change.verdict == .breaking && change.pointer == "/maxLength")
        let text = ChangeReport.text(change)
        #expect(text.hasPrefix("BREAKING "), "\(text)")
        #expect(text.contains("witness (old accepts, new rejects): \"000\""), "\(text)")
        let github = try #require(ChangeReport.github(change, file: narrowed, title: "t", strict: false))
        #expect(github.hasPrefix("::error file="), "\(github)")
        #expect(github.contains("witness: \"000\""), "\(github)")
        let possible = try DiffCommand.changes(
            old: try SchemaFiles.readJSON(old), new: try SchemaFiles.readJSON(new), role: "input")
        #expect(possible.map(\.verdict) == [.possiblyBreaking])
        #expect(ChangeReport.github(possible[0], file: nil, title: "t", strict: false)?.hasPrefix("::warning") == true)
        #expect(ChangeReport.github(possible[0], file: nil, title: "t", strict: true)?.hasPrefix("::error") == true)
        #expect(possible[0].json["verdict"] == "possibly-breaking" && possible[0].json["breaking"] == true)
        #expect(possible[0].pointer == "/pattern")
        // format: an annotation by default (no change in meaning), an assertion on request.
        let plain = try file("f-old.json", ##"{"type":"string"}"##)
        let email = try file("f-new.json", ##"{"type":"string","format":"email"}"##)
        #expect(try await exitStatus(["diff", plain, email]) == 0)
        let asserted = try DiffCommand.changes(
            old: try SchemaFiles.readJSON(plain), new: try SchemaFiles.readJSON(email), role: "input",
            options: ValidatorOptions(assertFormat: true))
        #expect(asserted.map(\.verdict) == [.breaking], "\(asserted)")
        #expect(try await exitStatus(["diff", plain, email, "--assert-format"]) == 1)
    }

    @Test(.timeLimit(.minutes(3)))
    func checkRequiresAVersionBumpForBreakingChanges() async throws {
        func git(_ args: String...) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"] + args
            p.currentDirectoryURL = dir
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "git \(args)")
        }
        let path = try file("contracts/charge.json", Self.contract)
        try git("init", "-q")
        try git("add", ".")
        try git("commit", "-q", "-m", "v1")
        let contracts = dir.appending(path: "contracts").path
        #expect(try await exitStatus(["check", contracts, "--against", "HEAD"]) == 0)
        let breaking = Self.contract.replacingOccurrences(of: #""minimum":1"#, with: #""minimum":10"#)
        try breaking.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await exitStatus(["check", contracts, "--against", "HEAD"]) == 1)
        try breaking.replacingOccurrences(of: #""version":1"#, with: #""version":2"#).write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(try await exitStatus(["check", contracts, "--against", "HEAD"]) == 0)
        #expect(try await exitStatus(["check", contracts, "--live", "--socket", "/tmp/x.sock"]) == 2)
        // A change that cannot be decided (one pattern for another): passes, unless --strict.
        let repatterned = Self.contract.replacingOccurrences(
            of: #""chargeId":{"type":"string"}"#, with: #""chargeId":{"type":"string","pattern":"^ch_"}"#)
        #expect(repatterned != Self.contract)
        try repatterned.write(toFile: path, atomically: true, encoding: .utf8)
        try git("add", ".")
        try git("commit", "-q", "-m", "pattern")
        try repatterned.replacingOccurrences(of: #""pattern":"^ch_""#, with: #""pattern":"^ch[_]""#)
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await exitStatus(["check", contracts, "--against", "HEAD"]) == 0)
        #expect(try await exitStatus(["check", contracts, "--against", "HEAD", "--strict"]) == 1)
        #expect(try await exitStatus(["check", contracts, "--against", "HEAD", "--strict", "--format", "github"]) == 1)
    }

    @Test func benchmarkRunsOnTheBuiltInContract() throws {
        let results = try SchemaBenchmark.run(perf: nil, roundMilliseconds: 10)
        #expect(results.map(\.name) == ["contract valid", "contract invalid"])
        #expect(results.allSatisfy { $0.isValidNanoseconds > 0 && $0.validateNanoseconds > 0 && $0.sizeCheckNanoseconds > 0 })
    }
}
