import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema diff OLD NEW`: each change, compatible or breaking, with reason and pointer.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Classify the changes between two contract (or schema) files.",
        discussion: """
            Inputs break callers when narrowed (new required property, narrowed type, removed enum value, \
            tighter bounds, additionalProperties false added); outputs break consumers when widened (removed \
            property, property no longer required, widened type, added enum value). Exit status: 0 no breaking \
            change, 1 breaking changes, 2 usage or file error.
            """)

    @Argument(help: "The old contract or schema file.") var old: String
    @Argument(help: "The new contract or schema file.") var new: String

    @Option(help: "For plain schemas (not contract files): input or output.")
    var role: String = "input"

    @OptionGroup var output: FormatOptions
    /// `--format json` (or `--json`): JSON Lines instead of text.
    var json: Bool { output.isJSON }

    func run() async throws {
        let changes: [ContractDiff.Change]
        do {
            changes = try Self.changes(old: SchemaFiles.readJSON(old), new: SchemaFiles.readJSON(new), role: role)
        } catch {
            SchemaFiles.emitError("error: \(errorText(error))")
            throw ExitCode(2)
        }
        Self.print(changes, json: json)
        if changes.contains(where: \.breaking) { throw ExitCode(1) }
    }

    static func changes(old: JSONValue, new: JSONValue, role: String) throws -> [ContractDiff.Change] {
        if let o = ContractFile(old), let n = ContractFile(new) {
            var out: [ContractDiff.Change] = []
            if let a = o.input, let b = n.input { out += ContractDiff.compare(role: .input, old: a, new: b) }
            if let a = o.output, let b = n.output { out += ContractDiff.compare(role: .output, old: a, new: b) }
            return out
        }
        guard let r = ContractDiff.Role(rawValue: role) else {
            throw SchemaFiles.Failure(description: "--role must be input or output")
        }
        return ContractDiff.compare(role: r, old: old, new: new)
    }

    static func print(_ changes: [ContractDiff.Change], json: Bool, prefix: String = "") {
        for c in changes {
            if json {
                SchemaFiles.emit(JSONWriter.string(c.json, sortedKeys: true))
            } else {
                let pointer = c.pointer.isEmpty ? "/" : c.pointer
                SchemaFiles.emit(
                    "\(prefix)\(c.breaking ? "BREAKING  " : "compatible")  \(c.role) \(pointer): \(c.reason)")
            }
        }
        if changes.isEmpty && !json { SchemaFiles.emit("\(prefix)no changes") }
    }
}
