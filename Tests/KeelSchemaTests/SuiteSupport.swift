import Foundation
import KeelCore
import KeelSchema

/// Loads the official JSON Schema Test Suite vendored at `/work/shared/jsonschema-suite`
/// (found from this file's path: `<package>/../shared/jsonschema-suite`).
enum SuiteSupport {
    static let packageRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let suiteRoot = packageRoot.deletingLastPathComponent().appending(path: "shared/jsonschema-suite")
    static var available: Bool { FileManager.default.fileExists(atPath: suiteRoot.appending(path: "tests").path) }

    struct Case {
        var id: String
        var file: String
        var category: String
        var schema: JSONValue
        var tests: [(index: Int, description: String, data: JSONValue, valid: Bool)]
        var caseIndex: Int
        var description: String
    }

    static func load(_ url: URL) throws -> JSONValue {
        try JSONParser.parse(Array(try Data(contentsOf: url)))
    }

    /// Every case of a draft folder (`draft2020-12`, `draft7`), with the suite's categories.
    static func cases(draft: String) throws -> [Case] {
        let dir = suiteRoot.appending(path: "tests/\(draft)")
        var out: [Case] = []
        let enumerator = FileManager.default.enumerator(atPath: dir.path)!
        var files: [String] = []
        while let rel = enumerator.nextObject() as? String {
            if rel.hasSuffix(".json") { files.append(rel) }
        }
        for rel in files.sorted() {
            let category =
                rel.hasPrefix("optional/format/") ? "format" : rel.hasPrefix("optional/") ? "optional" : "required"
            guard let list = try load(dir.appending(path: rel)).arrayValue else { continue }
            for (ci, c) in list.enumerated() {
                let tests = (c["tests"]?.arrayValue ?? []).enumerated().map { (ti, t) in
                    (ti, t["description"]?.stringValue ?? "", t["data"] ?? .null, t["valid"]?.boolValue ?? false)
                }
                out.append(
                    Case(
                        id: "\(rel)#\(ci)", file: rel, category: category, schema: c["schema"] ?? true, tests: tests,
                        caseIndex: ci, description: c["description"]?.stringValue ?? ""))
            }
        }
        return out
    }

    /// A registry that serves the suite's `remotes/` as `http://localhost:1234/`.
    static func registry() -> SchemaRegistry {
        var registry = SchemaRegistry()
        let remotes = suiteRoot.appending(path: "remotes")
        registry.retriever = { uri in
            let prefix = "http://localhost:1234/"
            guard uri.hasPrefix(prefix) else { return nil }
            let url = remotes.appending(path: String(uri.dropFirst(prefix.count)))
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return try load(url)
        }
        return registry
    }

    struct Outcome {
        var passed = 0
        var failed: [String] = []
        var total: Int { passed + failed.count }
    }

    /// Runs every test of `cases`; both `isValid` and `validate` must give the expected answer.
    static func run(_ cases: [Case], dialect: Dialect) -> [String: Outcome] {
        let registry = registry()
        var outcomes: [String: Outcome] = [:]
        for c in cases {
            let options = ValidatorOptions(defaultDialect: dialect, assertFormat: c.category == "format")
            let validator = Result { try Validator(schema: c.schema, registry: registry, options: options) }
            for t in c.tests {
                let id = "\(c.file)#\(c.caseIndex)/\(t.index)"
                switch validator {
                case .success(let v):
                    let fast = v.isValid(t.data)
                    let full = v.validate(t.data).isEmpty
                    if fast == t.valid && full == t.valid {
                        outcomes[c.category, default: Outcome()].passed += 1
                    } else {
                        outcomes[c.category, default: Outcome()].failed.append(
                            "\(id) expected \(t.valid) got isValid=\(fast) validate=\(full) — \(c.description) / \(t.description)"
                        )
                    }
                case .failure(let error):
                    outcomes[c.category, default: Outcome()].failed.append("\(id) error: \(error) — \(c.description)")
                }
            }
        }
        return outcomes
    }

    /// Test ids listed in `.ci/schema-known-failures-<draft>.txt` (`#` starts a comment line).
    static func knownFailures(draft: String) -> Set<String> {
        let url = packageRoot.appending(path: ".ci/schema-known-failures-\(draft).txt")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return Set(
            text.split(separator: "\n").compactMap { line in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
                return trimmed.split(separator: " ").first.map(String.init)
            })
    }
}
