import ArgumentParser
import Foundation
import KeelCore
import KeelSchema

/// `keel schema bench`: prints ns/op for `isValid`, `validate` and the size check before them.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure validation speed (ns per call).")

    @Option(help: "Folder with fast_schema.json, fast_valid.json, fast_invalid.json (the jsonschema-rs fixtures).")
    var perfDir: String?

    @Option(help: "Milliseconds per measuring round (5 rounds, best kept).")
    var roundMilliseconds = 200

    @OptionGroup var output: FormatOptions
    /// `--format json` (or `--json`): JSON instead of a table.
    var json: Bool { output.isJSON }

    func run() async throws {
        let dir =
            perfDir ?? ProcessInfo.processInfo.environment["KEEL_SCHEMA_PERF_DIR"]
            ?? ["../shared/jsonschema-suite/perf", "jsonschema-suite/perf"].first {
                FileManager.default.fileExists(atPath: $0 + "/fast_schema.json")
            }
        var perf: (String, String, String)?
        if let dir {
            func read(_ n: String) throws -> String {
                guard let d = FileManager.default.contents(atPath: dir + "/" + n) else {
                    throw SchemaFiles.Failure(description: "cannot read \(dir)/\(n)")
                }
                return String(decoding: d, as: UTF8.self)
            }
            perf = (try read("fast_schema.json"), try read("fast_valid.json"), try read("fast_invalid.json"))
        }
        let results = try SchemaBenchmark.run(perf: perf, roundMilliseconds: roundMilliseconds)
        if json {
            let rows: [JSONValue] = results.map {
                [
                    "name": .string($0.name), "isValidNs": JSONValue($0.isValidNanoseconds.rounded()),
                    "validateNs": JSONValue($0.validateNanoseconds.rounded()),
                    "sizeCheckNs": JSONValue($0.sizeCheckNanoseconds.rounded()),
                ]
            }
            SchemaFiles.emit(JSONWriter.string(.array(rows)))
            return
        }
        SchemaFiles.emit("input                 isValid ns/op   validate ns/op   size check ns/op")
        for r in results {
            let name = r.name.padding(toLength: 20, withPad: " ", startingAt: 0)
            SchemaFiles.emit(
                "\(name)  \(String(format: "%13.0f", r.isValidNanoseconds))"
                    + "   \(String(format: "%14.0f", r.validateNanoseconds))"
                    + "   \(String(format: "%16.0f", r.sizeCheckNanoseconds))"
            )
        }
        if perf == nil { SchemaFiles.emit("(perf fixtures not found: pass --perf-dir)") }
    }
}
