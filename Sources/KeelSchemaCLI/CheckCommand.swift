import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema check CONTRACTS_DIR --against REV`: a breaking change to a published contract
/// must come with a `version` bump.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Fail when a contract changed incompatibly without a version bump, or a live worker breaks its file.",
        discussion: """
            keel schema check DIR --against REV: diff every contract file with its version at REV; a breaking \
            change needs a version bump. keel schema check --live --socket S [DIR]: diff the contracts the \
            connected workers registered (worker/list) with the files of the same name; the file is the old side, \
            the registered contract the new one. Exit status: 0 ok, 1 breaking change (without version bump), \
            2 usage, git, file or connection error.
            """)

    @Argument(help: "Folder of contract files (*.json, recursively).")
    var contracts: String = "Schemas/contracts"

    @Option(help: "Git revision holding the published contracts (e.g. origin/main).")
    var against: String?

    @Flag(help: "Check the contracts registered with a running orchestrator (needs --socket).")
    var live = false

    @Option(help: "Orchestrator Unix socket for --live (default: $KEEL_SOCKET).")
    var socket: String?

    @Option(help: "Output: text, json (one object per contract), github (Actions annotations).")
    var format: OutputFormat = .text

    @Flag(help: "Treat possibly breaking changes (not decided, no witness found) as breaking.")
    var strict = false

    func run() async throws {
        if live { return try runLive() }
        guard let against else {
            SchemaFiles.emitError("error: --against REV (or --live) is required")
            throw ExitCode(2)
        }
        let files: [String]
        do { files = try SchemaFiles.jsonFiles([contracts]) } catch {
            SchemaFiles.emitError("error: \(errorText(error))")
            throw ExitCode(2)
        }
        var failures = 0
        for file in files {
            let newValue: JSONValue
            do { newValue = try SchemaFiles.readJSON(file) } catch {
                SchemaFiles.emitError("error: \(errorText(error))")
                throw ExitCode(2)
            }
            guard let newContract = ContractFile(newValue) else { continue }
            let oldText: Data?
            do { oldText = try Self.gitShow(revision: against, path: file) } catch {
                SchemaFiles.emitError("error: \(errorText(error))")
                throw ExitCode(2)
            }
            guard let oldText else {
                report(file, newContract.name, "new", [], "new contract \(newContract.name)")
                continue
            }
            let oldValue: JSONValue
            do { oldValue = try JSONParser.parse(Array(oldText)) } catch {
                report(file, newContract.name, "skipped", [], "the version at \(against) is not JSON; skipped")
                continue
            }
            guard let oldContract = ContractFile(oldValue) else { continue }
            let changes = try DiffCommand.changes(old: oldValue, new: newValue, role: "input")
            let breaking = changes.filter(\.breaking)
            let bumped = (newContract.version ?? 1) > (oldContract.version ?? 1)
            let possible = changes.filter { $0.verdict == .possiblyBreaking }
            if !ChangeReport.fails(changes, strict: strict) && !possible.isEmpty {
                report(
                    file, newContract.name, "possibly-breaking", possible,
                    "ok, with \(possible.count) possibly breaking change(s) (--strict fails on them):")
            } else if !ChangeReport.fails(changes, strict: strict) {
                report(file, newContract.name, "ok", changes, "ok (\(changes.count) compatible change(s))")
            } else if bumped {
                report(
                    file, newContract.name, "bumped", changes,
                    "has breaking changes with version bump \(oldContract.version ?? 1) -> \(newContract.version ?? 1)")
            } else {
                failures += 1
                report(file, newContract.name, "breaking", breaking, "has breaking changes without a version bump:")
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// One contract's outcome in `--against` mode, in the chosen format.
    func report(_ file: String, _ name: String, _ status: String, _ changes: [ContractDiff.Change], _ text: String) {
        switch format {
        case .text:
            SchemaFiles.emit("\(file): \(name) \(text)")
            if status == "breaking" || status == "possibly-breaking" {
                DiffCommand.print(changes, json: false, prefix: "  ")
            }
        case .json:
            let list: [JSONValue] = changes.map(\.json)
            SchemaFiles.emit(
                JSONWriter.string(
                    [
                        "file": .string(file), "name": .string(name), "status": .string(status),
                        "changes": .array(list),
                    ], sortedKeys: true))
        case .github:
            guard status == "breaking" || status == "possibly-breaking" else {
                SchemaFiles.emit("\(file): \(name) \(text)")
                return
            }
            for c in changes {
                let title = status == "breaking" ? "breaking change to \(name) without a version bump" : "contract \(name)"
                if let line = ChangeReport.github(c, file: file, title: title, strict: strict)
                {
                    SchemaFiles.emit(line)
                }
            }
        }
    }

    /// `--live`: initialize, worker/list, compare each registered contract with its file.
    func runLive() throws {
        guard let path = socket ?? ProcessInfo.processInfo.environment["KEEL_SOCKET"], !path.isEmpty else {
            SchemaFiles.emitError("error: --live needs --socket PATH (or KEEL_SOCKET)")
            throw ExitCode(2)
        }
        let findings: [LiveCheck.Finding]
        do {
            let files = try SchemaFiles.jsonFiles([contracts]).map { (path: $0, value: try SchemaFiles.readJSON($0)) }
            let connection = try OrchestratorSocket(path: path)
            _ = try connection.call(
                "initialize",
                params: ["protocolVersion": "1", "clientInfo": ["name": "keel-schema-check", "version": "0.1.0"]])
            let registered = try LiveCheck.registeredContracts(workerList: connection.call("worker/list", params: [:]))
            findings = try LiveCheck.compare(registered: registered, files: files, strict: strict)
        } catch {
            SchemaFiles.emitError("error: \(errorText(error))")
            throw ExitCode(2)
        }
        for line in LiveCheck.render(findings, format: format, strict: strict) { SchemaFiles.emit(line) }
        if findings.contains(where: { $0.status == .breaking }) { throw ExitCode(1) }
    }

    /// `git show REV:./PATH` run in PATH's folder; nil when the file does not exist at REV.
    static func gitShow(revision: String, path: String) throws -> Data? {
        let url = URL(fileURLWithPath: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "show", "\(revision):./\(url.lastPathComponent)"]
        process.currentDirectoryURL = url.deletingLastPathComponent()
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 0 { return data }
        let text = String(decoding: errors, as: UTF8.self)
        if text.contains("does not exist") || text.contains("exists on disk, but not in") { return nil }
        throw SchemaFiles.Failure(description: "git show \(revision):\(path) failed: \(text)")
    }
}
