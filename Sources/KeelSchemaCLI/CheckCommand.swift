import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema check CONTRACTS_DIR --against REV`: a breaking change to a published contract
/// must come with a `version` bump.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Fail when a contract changed incompatibly without a version bump.",
        discussion: "Exit status: 0 ok, 1 breaking change without version bump, 2 usage, git or file error.")

    @Argument(help: "Folder of contract files (*.json, recursively).")
    var contracts: String

    @Option(help: "Git revision holding the published contracts (e.g. origin/main).")
    var against: String?

    @Flag(help: "Check against the contracts registered with a running orchestrator (not yet supported).")
    var live = false

    @Option(help: "Orchestrator socket for --live.")
    var socket: String?

    func run() async throws {
        if live {
            SchemaFiles.emitError("keel schema check --live is not yet supported")
            throw ExitCode(2)
        }
        guard let against else {
            SchemaFiles.emitError("error: --against REV is required")
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
            guard let oldText = try Self.gitShow(revision: against, path: file) else {
                SchemaFiles.emit("\(file): new contract \(newContract.name)")
                continue
            }
            let oldValue: JSONValue
            do { oldValue = try JSONParser.parse(Array(oldText)) } catch {
                SchemaFiles.emit("\(file): the version at \(against) is not JSON; skipped")
                continue
            }
            guard let oldContract = ContractFile(oldValue) else { continue }
            let changes = try DiffCommand.changes(old: oldValue, new: newValue, role: "input")
            let breaking = changes.filter(\.breaking)
            let bumped = (newContract.version ?? 1) > (oldContract.version ?? 1)
            if breaking.isEmpty {
                SchemaFiles.emit("\(file): \(newContract.name) ok (\(changes.count) compatible change(s))")
            } else if bumped {
                SchemaFiles.emit(
                    "\(file): \(newContract.name) has breaking changes with version bump"
                        + " \(oldContract.version ?? 1) -> \(newContract.version ?? 1)"
                )
            } else {
                failures += 1
                SchemaFiles.emit("\(file): \(newContract.name) has breaking changes without a version bump:")
                DiffCommand.print(breaking, json: false, prefix: "  ")
            }
        }
        if failures > 0 { throw ExitCode(1) }
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
