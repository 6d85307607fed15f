import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema diff OLD NEW`: each change, compatible or breaking, with reason and pointer.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Classify the changes between two contract (or schema) files by what they accept.",
        discussion: """
            An input change breaks callers when some instance the old schema accepts is rejected by the new \
            one; an output change breaks consumers when some instance the new schema accepts was rejected by \
            the old one. Each BREAKING change shows such an instance (a witness, checked by the validator). \
            POSSIBLY BREAKING: not decided and no witness found; fails only with --strict. Exit status: 0 no \
            breaking change, 1 breaking changes (or possibly breaking with --strict), 2 usage or file error.
            """)

    @Argument(help: "The old contract or schema file.") var old: String
    @Argument(help: "The new contract or schema file.") var new: String

    @Option(help: "For plain schemas (not contract files): input or output.")
    var role: String = "input"

    @Option(help: "Output: text, json (JSON Lines, one change each), github (Actions annotations).")
    var format: OutputFormat = .text

    @Flag(name: .customLong("json"), help: .hidden)
    var jsonAlias = false

    @Flag(help: "Fail (exit 1) on possibly breaking changes too.")
    var strict = false

    @Flag(help: "The contracts assert `format` (by default it is an annotation and changes to it mean nothing).")
    var assertFormat = false

    /// `--format json` (or `--json`): JSON Lines instead of text.
    var json: Bool { format == .json || jsonAlias }

    func run() async throws {
        let changes: [ContractDiff.Change]
        do {
            changes = try Self.changes(
                old: SchemaFiles.readJSON(old), new: SchemaFiles.readJSON(new), role: role,
                options: ValidatorOptions(assertFormat: assertFormat))
        } catch {
            SchemaFiles.emitError("error: \(errorText(error))")
            throw ExitCode(2)
        }
        if format == .github && !jsonAlias {
            for c in changes {
                if let line = ChangeReport.github(c, file: new, title: "contract change", strict: strict) {
                    SchemaFiles.emit(line)
                }
            }
        } else {
            Self.print(changes, json: json)
        }
        if ChangeReport.fails(changes, strict: strict) { throw ExitCode(1) }
    }

    static func changes(
        old: JSONValue, new: JSONValue, role: String, options: ValidatorOptions = .init()
    ) throws -> [ContractDiff.Change] {
        if let o = ContractFile(old), let n = ContractFile(new) {
            var out: [ContractDiff.Change] = []
            if let a = o.input, let b = n.input {
                out += ContractDiff.compare(role: .input, old: a, new: b, options: options)
            }
            if let a = o.output, let b = n.output {
                out += ContractDiff.compare(role: .output, old: a, new: b, options: options)
            }
            return out
        }
        guard let r = ContractDiff.Role(rawValue: role) else {
            throw SchemaFiles.Failure(description: "--role must be input or output")
        }
        return ContractDiff.compare(role: r, old: old, new: new, options: options)
    }

    static func print(_ changes: [ContractDiff.Change], json: Bool, prefix: String = "") {
        for c in changes {
            if json {
                SchemaFiles.emit(JSONWriter.string(c.json, sortedKeys: true))
            } else {
                SchemaFiles.emit(ChangeReport.text(c, prefix: prefix))
            }
        }
        if changes.isEmpty && !json { SchemaFiles.emit("\(prefix)no changes") }
    }
}
