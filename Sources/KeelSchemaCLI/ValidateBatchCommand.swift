import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema validate-batch`: the JSON Schema Test Suite runner interface.
///
/// stdin: JSON Lines `{"schema": …, "instance": …}`; stdout: one line per input line, in order,
/// flushed: `{"valid": true}`, `{"valid": false}` or `{"error": "…"}`. Validators are cached by
/// schema content hash across lines. Nothing else goes to stdout.
struct ValidateBatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-batch",
        abstract: "Validate JSON Lines {\"schema\",\"instance\"} from stdin; one answer line each.")

    @OptionGroup var options: ValidationOptions

    func run() async throws {
        let (registry, opts) = try options.resolved()
        let cache = ValidatorCache(registry: registry, options: opts)
        while let line = readLine(strippingNewline: true) {
            if line.allSatisfy(\.isWhitespace) { continue }
            SchemaFiles.emit(answer(line, cache))
        }
    }

    func answer(_ line: String, _ cache: ValidatorCache) -> String {
        let request: JSONValue
        do { request = try JSONParser.parse(line) } catch {
            return failure("input line is not JSON: \(error)")
        }
        guard let schema = request["schema"], let instance = request["instance"] else {
            return failure("input line needs \"schema\" and \"instance\"")
        }
        do {
            let validator = try cache.validator(for: schema)
            return validator.isValid(instance) ? #"{"valid":true}"# : #"{"valid":false}"#
        } catch {
            return failure(errorText(error))
        }
    }

    func failure(_ text: String) -> String { JSONWriter.string(["error": .string(text)]) }
}
