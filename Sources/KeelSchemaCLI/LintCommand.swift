import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema lint PATH…`: every schema valid against its meta-schema, every `$ref` resolvable,
/// every contract file well formed.
struct LintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Check schema and contract files (meta-schema, $refs, contract shape).",
        discussion: "Exit status: 0 no problems, 1 problems found, 2 usage error.")

    @Argument(help: "Files or folders (*.json, recursively).")
    var paths: [String]

    @OptionGroup var options: ValidationOptions

    @Option(help: "Output: text, json (one object per file), github (Actions annotations).")
    var format: OutputFormat = .text

    func run() async throws {
        let files: [String]
        let registry: SchemaRegistry
        let opts: ValidatorOptions
        do {
            files = try SchemaFiles.jsonFiles(paths)
            (registry, opts) = try options.resolved()
        } catch {
            SchemaFiles.emitError("error: \(errorText(error))")
            throw ExitCode(2)
        }
        var problems = 0
        for file in files {
            let found = Linter(registry: registry, options: opts).lint(file: file)
            problems += found.count
            switch format {
            case .text: for p in found { SchemaFiles.emit("\(file): \(p)") }
            case .json:
                SchemaFiles.emit(
                    JSONWriter.string(
                        ["file": .string(file), "problems": .array(found.map { .string($0) })], sortedKeys: true))
            case .github:
                for p in found { SchemaFiles.emit(GitHubAnnotation.line("error", file: file, title: "keel schema lint", message: p)) }
            }
        }
        SchemaFiles.emitError("\(files.count) file(s) checked, \(problems) problem(s)")
        if problems > 0 { throw ExitCode(1) }
    }
}

/// The checks behind `lint`, reusable by `check`.
struct Linter {
    var registry: SchemaRegistry
    var options: ValidatorOptions

    /// Lints with `options`, requiring linear-time patterns: a pattern the orchestrator would
    /// refuse at `worker/register` (3003: a backreference, lookahead, or syntax only a backtracking
    /// engine reads) is a problem here too, so CI catches it before a worker does.
    init(registry: SchemaRegistry, options: ValidatorOptions) {
        self.registry = registry
        var options = options
        options.requireLinearPatterns = true
        self.options = options
    }

    func lint(file: String) -> [String] {
        let value: JSONValue
        do { value = try SchemaFiles.readJSON(file) } catch { return [errorText(error)] }
        return lint(value: value)
    }

    func lint(value: JSONValue) -> [String] {
        guard let contract = ContractFile(value) else { return lint(schema: value, at: "") }
        var out: [String] = []
        let nameRule = contract.name.split(separator: ".", omittingEmptySubsequences: false)
        if contract.name.isEmpty
            || nameRule.contains(where: {
                $0.isEmpty || !$0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
            })
        {
            out.append("/name: \"\(contract.name)\" is not a dotted name like billing.charge")
        }
        if let v = value["version"], v.int64Value.map({ $0 < 1 }) ?? true {
            out.append("/version: must be a positive integer")
        }
        for key in ["input", "output"] {
            guard let s = value[key] else {
                out.append("/\(key): missing")
                continue
            }
            out += lint(schema: s, at: "/" + key)
        }
        if let d = value["description"], d.stringValue == nil { out.append("/description: must be a string") }
        let known: Set<String> = [
            "name", "version", "description", "input", "output", "retryPolicy", "timeouts", "$schema",
        ]
        for k in (value.objectValue ?? [:]).keys.sorted() where !known.contains(k) {
            out.append("/\(JSONPointer(k)): unknown contract field")
        }
        return out
    }

    func lint(schema: JSONValue, at pointer: String) -> [String] {
        var out: [String] = []
        var dialect = options.defaultDialect
        if let uri = schema["$schema"]?.stringValue, let d = Dialect(uri: uri) { dialect = d }
        do {
            let meta = try Validator(schema: ["$ref": .string(dialect.uri)], registry: registry, options: options)
            for e in meta.validate(schema) {
                out.append("\(pointer)\(e.instanceLocation): \(e.message) (meta-schema \(e.keyword))")
            }
        } catch {
            out.append("\(pointer): cannot load the meta-schema: \(errorText(error))")
        }
        if out.isEmpty {
            do { _ = try Validator(schema: schema, registry: registry, options: options) } catch {
                out.append("\(pointer): \(errorText(error))")
            }
        }
        return out
    }
}

/// Escapes a JSON Pointer token.
func JSONPointer(_ token: String) -> String {
    token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
}
