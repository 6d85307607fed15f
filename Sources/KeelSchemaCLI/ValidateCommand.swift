import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// Options shared by `validate` and `validate-batch`.
struct ValidationOptions: ParsableArguments {
    @Option(
        name: .customLong("remote-base"),
        help: "Map URIs starting with PREFIX to files under DIR (PREFIX=DIR, repeatable).")
    var remoteBase: [String] = []

    @Option(help: "Dialect URI for schemas without $schema (default 2020-12).")
    var defaultDialect: String?

    @Flag(help: "Treat \"format\" as an assertion.")
    var assertFormat = false

    /// Options plus the JSONSCHEMA_SUITE_* environment variables (arguments win).
    func resolved() throws -> (SchemaRegistry, ValidatorOptions) {
        let env = ProcessInfo.processInfo.environment
        var bases = remoteBase
        if bases.isEmpty, let b = env["JSONSCHEMA_SUITE_REMOTE_BASE"], !b.isEmpty { bases = [b] }
        let dialect = try SchemaFiles.dialect(defaultDialect ?? env["JSONSCHEMA_SUITE_DEFAULT_DIALECT"])
        let format = assertFormat || env["JSONSCHEMA_SUITE_ASSERT_FORMAT"] == "1"
        return (
            try SchemaFiles.registry(remoteBases: bases),
            ValidatorOptions(defaultDialect: dialect, assertFormat: format)
        )
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, github
}

/// `keel schema validate SCHEMA INSTANCE…`
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate JSON instance files against a schema.",
        discussion: "Exit status: 0 all valid, 1 some instance invalid, 2 schema or file error.")

    @Argument(help: "The schema file (a contract file's \"input\" is used unless --output is given).")
    var schema: String

    @Argument(help: "Instance files (any JSON value, bare scalars too); - for stdin.")
    var instances: [String]

    @OptionGroup var options: ValidationOptions

    @Option(help: "Output: text, json (one object per instance), github (Actions annotations).")
    var format: OutputFormat = .text

    @Flag(help: "With a contract file, validate against its output schema.")
    var output = false

    func run() async throws {
        let validator: Validator
        do {
            let (registry, opts) = try options.resolved()
            var schemaValue = try SchemaFiles.readJSON(schema)
            if let contract = ContractFile(schemaValue) {
                guard let s = output ? contract.output : contract.input else {
                    throw SchemaFiles.Failure(description: "\(schema) has no \(output ? "output" : "input") schema")
                }
                schemaValue = s
            }
            validator = try Validator(schema: schemaValue, registry: registry, options: opts)
        } catch {
            SchemaFiles.emitError("error: \(schema): \(errorText(error))")
            throw ExitCode(2)
        }
        var anyInvalid = false
        var anyError = false
        for path in instances {
            let instance: JSONValue
            do { instance = try SchemaFiles.readJSON(path) } catch {
                SchemaFiles.emitError("error: \(errorText(error))")
                anyError = true
                continue
            }
            let errors = validator.validate(instance)
            if !errors.isEmpty { anyInvalid = true }
            report(path, errors)
        }
        if anyError { throw ExitCode(2) }
        if anyInvalid { throw ExitCode(1) }
    }

    func report(_ path: String, _ errors: [KeelSchema.ValidationError]) {
        switch format {
        case .text:
            if errors.isEmpty { SchemaFiles.emit("\(path): valid") }
            for e in errors { SchemaFiles.emit("\(path): \(e.description)") }
        case .json:
            let value: JSONValue = [
                "file": .string(path), "valid": .bool(errors.isEmpty), "errors": .array(errors.map(\.json)),
            ]
            SchemaFiles.emit(JSONWriter.string(value, sortedKeys: true))
        case .github:
            for e in errors {
                // GitHub Actions workflow command; %, CR and LF must be escaped in the message.
                let text = e.description.replacingOccurrences(of: "%", with: "%25")
                    .replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(of: "\n", with: "%0A")
                let file = path.replacingOccurrences(of: ",", with: "%2C").replacingOccurrences(of: ":", with: "%3A")
                SchemaFiles.emit("::error file=\(file),title=schema \(e.keyword)::\(text)")
            }
            if errors.isEmpty { SchemaFiles.emit("\(path): valid") }
        }
    }
}

func errorText(_ error: any Error) -> String {
    if let k = error as? KeelError { return k.message }
    return String(describing: error)
}
