import Foundation
import KeelCore
import KeelEngine
import KeelServer

/// A project's `keel.json`: the orchestrator settings, the workers to spawn and what to run.
/// Paths are relative to the file's folder.
struct DevConfig {
    var directory: String
    var db: String
    var socket: String
    var workers: [WorkerSpec]
    var limits: [String: ActivityLimit]
    var run: (workflow: String, workflowId: String, input: JSONValue)?

    static func load(_ path: String) throws -> DevConfig {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeelError(.invalidParams, "cannot read \(path)")
        }
        let json: JSONValue
        do { json = try JSONParser.parse(Array(data)) } catch {
            throw KeelError(.invalidParams, "\(path) is not JSON: \(error)")
        }
        guard case .object = json else { throw KeelError(.invalidParams, "\(path) must hold a JSON object") }
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : directory + "/" + p }
        var workers: [WorkerSpec] = []
        for (i, w) in (json["workers"]?.arrayValue ?? []).enumerated() {
            guard let command = w["command"]?.stringValue else {
                throw KeelError(.invalidParams, "\(path): workers[\(i)].command must be a string")
            }
            var spec = try WorkerSpec(command: command, name: w["name"]?.stringValue)
            spec.directory = directory
            workers.append(spec)
        }
        // "mcp": {"NAME": "COMMAND ARGS"}: MCP servers as workers, as `keel serve --mcp` (docs/mcp.md).
        for (name, command) in json["mcp"]?.objectValue ?? [:] {
            guard let command = command.stringValue else {
                throw KeelError(.invalidParams, "\(path): mcp.\(name) must be a command line (a string)")
            }
            var spec = try MCPWorkerSpec.make("\(name)=\(command)")
            spec.directory = directory
            workers.append(spec)
        }
        var limits: [String: ActivityLimit] = [:]
        for (name, l) in json["activities"]?.objectValue ?? [:] {
            limits[name] = try ActivityLimit(json: l, context: "\(path): activities.\(name)")
        }
        var run: (String, String, JSONValue)?
        if let r = json["run"] {
            guard let wf = r["workflow"]?.stringValue else { throw KeelError(.invalidParams, "\(path): run.workflow must be a string") }
            run = (wf, r["workflowId"]?.stringValue ?? wf, r["input"] ?? .null)
        }
        return DevConfig(
            directory: directory, db: resolve(json["db"]?.stringValue ?? ".keel/keel.db"),
            socket: resolve(json["socket"]?.stringValue ?? ".keel/keel.sock"), workers: workers, limits: limits, run: run)
    }
}
