import ArgumentParser
import Foundation
import KeelServer

/// `keel serve --mcp NAME="COMMAND ARGS"`: a `--worker` that runs `keel mcp bridge NAME -- COMMAND ARGS`,
/// so the MCP server is supervised and restarted like any worker (docs/mcp.md).
enum MCPWorkerSpec {
    static func make(_ assignment: String) throws -> WorkerSpec {
        guard let eq = assignment.firstIndex(of: "=") else {
            throw ValidationError("--mcp takes NAME=\"COMMAND ARGS\", not \(assignment)")
        }
        let name = String(assignment[..<eq])
        let command = String(assignment[assignment.index(after: eq)...])
        guard name.range(of: #"^[A-Za-z_][A-Za-z0-9_\-]*$"#, options: .regularExpression) != nil else {
            throw ValidationError("--mcp: the server name \(name) must match [A-Za-z_][A-Za-z0-9_-]*")
        }
        // A spec of the server's own command checks its quoting; its argv follows the bridge's.
        let server: WorkerSpec
        do { server = try WorkerSpec(command: command) } catch { throw ValidationError("--mcp \(name): \(error)") }
        var spec = server
        spec.argv = [keelExecutable(), "mcp", "bridge", name, "--"] + server.argv
        spec.name = "mcp.\(name)"
        return spec
    }

    /// This `keel` binary's path: the bridge runs from the same build.
    static func keelExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
