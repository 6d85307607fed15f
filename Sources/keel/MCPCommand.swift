import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import KeelMCP

/// `keel mcp`: the Model Context Protocol both ways (docs/mcp.md).
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Model Context Protocol: MCP servers' tools as durable activities, and Keel's activities as an MCP server.",
        subcommands: [MCPBridgeCommand.self, MCPServeCommand.self])
}

/// `keel mcp bridge NAME -- COMMAND ARGS`: one MCP server as a Keel worker.
struct MCPBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Run an MCP server (stdio) as a Keel worker: each tool becomes the activity mcp.NAME.TOOL.",
        discussion: """
            Usually started by `keel serve --mcp NAME="COMMAND ARGS"`, which supervises it like a --worker.
            Run by hand it connects to $KEEL_SOCKET (or ./keel.sock).
            """)

    @Argument(help: "The server's name in Keel (activities mcp.NAME.TOOL).") var name: String
    @Argument(parsing: .postTerminator, help: "The MCP server's command line, after --.") var command: [String] = []
    @Option(help: "Each attempt's start-to-close timeout (e.g. 30s); a server silent that long is killed and restarted.")
    var timeout = "60s"
    @Option(
        name: .customLong("max-attempts"),
        help: "TOOL=N: maximumAttempts for a tool (* for all), overriding its annotations (repeatable).")
    var maxAttempts: [String] = []
    @Flag(help: "Retry results with isError: true (default: a tool's own error is not retried).") var retryToolErrors = false
    @Option(help: "A regular expression: a result with isError: false whose text matches is the tool's error.")
    var errorText: String?
    @Option(help: "Calls run on the server at once.") var maxConcurrent = 8
    @Option(help: "auto: probe server/discover (2026-07-28), fall back to initialize; legacy: initialize only.")
    var protocolMode = "auto"

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the MCP server's command after --") }
        guard name.range(of: #"^[A-Za-z_][A-Za-z0-9_\-]*$"#, options: .regularExpression) != nil else {
            throw ValidationError("the MCP server name \(name) must match [A-Za-z_][A-Za-z0-9_-]*")
        }
        _ = try parseDuration(timeout)
        _ = try attemptOverrides()
        if let errorText, (try? NSRegularExpression(pattern: errorText)) == nil {
            throw ValidationError("--error-text \(errorText) is not a regular expression")
        }
        guard ["auto", "legacy"].contains(protocolMode) else { throw ValidationError("--protocol-mode takes auto or legacy") }
        guard (1...1000).contains(maxConcurrent) else { throw ValidationError("--max-concurrent must be from 1 to 1000") }
    }

    func attemptOverrides() throws -> [String: Int] {
        var overrides: [String: Int] = [:]
        for entry in maxAttempts {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let n = Int(parts[1]), n >= 0 else {
                throw ValidationError("--max-attempts takes TOOL=N (N ≥ 0; 0 = unlimited), not \(entry)")
            }
            overrides[parts[0]] = n
        }
        return overrides
    }

    func run() async throws {
        var options = BridgeOptions(name: name, argv: command)
        options.startToCloseMs = try parseDuration(timeout)
        options.maximumAttempts = try attemptOverrides()
        options.retryToolErrors = retryToolErrors
        options.errorTextPattern = errorText
        options.maxConcurrent = maxConcurrent
        options.probeModernRevision = protocolMode == "auto"
        let endpoints = Endpoint.listFromEnvironment(ProcessInfo.processInfo.environment)
        do {
            let end = try await Bridge.run(options, endpoints: endpoints)
            if case .toolsChanged = end {
                // Exit so the supervisor starts the bridge again, which lists and registers anew.
                FileHandle.standardError.write(Data("keel mcp bridge \(name): the server's tools changed; restarting\n".utf8))
                throw ExitCode(75)
            }
        } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel mcp bridge \(name): \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `keel mcp serve`: Keel's activities and workflows as an MCP server on stdio.
struct MCPServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve MCP on stdin/stdout: every registered activity is a tool, called durably through Keel.")

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Part of the idempotency key derived from each MCP request id (default: $KEEL_MCP_SESSION, else random).")
    var sessionKey: String?

    func run() async throws {
        let key = sessionKey ?? ProcessInfo.processInfo.environment["KEEL_MCP_SESSION"] ?? UUID().uuidString
        do {
            try await ToolServer.run(endpoints: connection.endpoints, sessionKey: key)
        } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel mcp serve: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
