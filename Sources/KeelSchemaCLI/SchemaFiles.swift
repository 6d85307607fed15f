import Foundation
import KeelCore
import KeelSchema

/// File access for the schema commands (KeelSchema itself never touches files).
enum SchemaFiles {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads one JSON value (a bare scalar is fine) from `path`, or stdin for `-`.
    static func readJSON(_ path: String) throws -> JSONValue {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw Failure(description: "cannot read \(path)")
            }
            data = d
        }
        do { return try JSONParser.parse(Array(data)) } catch {
            throw Failure(description: "\(path) is not valid JSON: \(error)")
        }
    }

    /// `PREFIX=DIR` mappings → a registry whose retriever loads `DIR/<rest of the URI>`.
    static func registry(remoteBases: [String]) throws -> SchemaRegistry {
        var mappings: [(prefix: String, dir: String)] = []
        for spec in remoteBases {
            guard let eq = spec.lastIndex(of: "="), eq != spec.startIndex else {
                throw Failure(description: "--remote-base expects PREFIX=DIR, got \"\(spec)\"")
            }
            mappings.append((String(spec[..<eq]), String(spec[spec.index(after: eq)...])))
        }
        var registry = SchemaRegistry()
        guard !mappings.isEmpty else { return registry }
        let table = mappings.sorted { $0.prefix.count > $1.prefix.count }
        registry.retriever = { uri in
            for (prefix, dir) in table where uri.hasPrefix(prefix) {
                let rest = String(uri.dropFirst(prefix.count))
                guard !rest.contains("..") else { return nil }
                let path = (dir as NSString).appendingPathComponent(rest)
                guard FileManager.default.fileExists(atPath: path) else { return nil }
                return try readJSON(path)
            }
            return nil
        }
        return registry
    }

    /// The dialect a `--default-dialect` URI names.
    static func dialect(_ uri: String?) throws -> Dialect {
        guard let uri else { return .draft2020_12 }
        if let d = Dialect(uri: uri) { return d }
        switch uri {
        case "2020-12", "draft2020-12": return .draft2020_12
        case "7", "draft7", "draft-07": return .draft7
        default: throw Failure(description: "unknown dialect \(uri)")
        }
    }

    /// Every `*.json` file under the given files and folders, sorted.
    static func jsonFiles(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw Failure(description: "no such file or folder: \(path)")
            }
            if isDir.boolValue {
                let e = FileManager.default.enumerator(atPath: path)
                var found: [String] = []
                while let rel = e?.nextObject() as? String {
                    if rel.hasSuffix(".json") { found.append((path as NSString).appendingPathComponent(rel)) }
                }
                out += found.sorted()
            } else {
                out.append(path)
            }
        }
        return out
    }

    /// Writes a line to stdout and flushes (batch mode answers must not sit in a buffer).
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func emitError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// A contract file: `{"name", "version", "description"?, "input", "output", "retryPolicy"?, "timeouts"?}`.
struct ContractFile {
    var name: String
    var version: Int?
    var input: JSONValue?
    var output: JSONValue?

    /// Nil when `value` does not look like a contract (then it is treated as a plain schema).
    init?(_ value: JSONValue) {
        guard case .object(let o) = value, let name = o["name"]?.stringValue,
            o["input"] != nil || o["output"] != nil
        else { return nil }
        self.name = name
        self.version = o["version"]?.int64Value.map { Int($0) }
        self.input = o["input"]
        self.output = o["output"]
    }
}
