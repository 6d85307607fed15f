import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import struct KeelProtocol.WorkflowStartParams
import struct KeelProtocol.WorkflowResultParams
import struct KeelProtocol.WorkflowHistoryParams
import KeelServer
import KeelEngine
import KeelStorage
import Logging
import ServiceLifecycle
import UnixSignals

/// `keel dev DIR`: one command that runs an example — orchestrator, workers, and its workflow,
/// printing each step as it happens. Run it again after a crash and it continues.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a project from its keel.json: orchestrator, workers and its workflow, with live progress.")

    @Argument(help: "Folder holding keel.json.") var directory: String = "."
    @Flag(help: "Keep serving after the workflow ends.") var serve = false
    @Flag(help: "Show the orchestrator's and workers' logs.") var verbose = false
    @Option(help: "Commit durability: full or normal.") var sync = "full"
    @Option(help: "Where the web UI listens (the next free port if this one is taken; docs/ui.md).") var ui = "127.0.0.1:8233"
    @Flag(help: "Do not serve the web UI.") var noUi = false
    @Option(help: "Append a span per workflow execution and activity attempt to this file as OTLP/JSON lines (docs/traces.md).")
    var traceFile: String?

    func run() async throws {
        useEventLoops(1)
        let config = try DevConfig.load(directory + "/keel.json")
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: config.db).deletingLastPathComponent().path, withIntermediateDirectories: true)
        var logger = Logger(label: "keel")
        logger.logLevel = verbose ? .info : .warning
        if let notice = EventLoopExecutor.notice { logger.warning("\(notice)") }
        var options = KeelServer.Options(databasePath: config.db)
        options.durability = sync == "normal" ? .normal : .full
        options.socketPath = config.socket
        options.workers = config.workers
        options.engine.activityLimits = config.limits
        let uiHost = try addWebUI(to: &options)
        if let traceFile { options.engine.tracer = try TraceFileOption.tracer(path: traceFile, command: "dev", logger: logger) }
        let server = KeelServer(options: options, logger: logger)
        let progress = DevProgress(server: server, config: config, keepServing: serve, uiHost: uiHost)
        say("keel dev: \(config.directory) — db \(config.db), socket \(config.socket), \(config.workers.count) workers")
        say("  access: socket \(config.socket) is owner-only (0600) and its peers are admin; no TCP listener, no tokens; "
            + "spawned workers hold the worker and client roles (docs/security.md)")
        // The server's parts and the progress printer in one group; the printer stops first.
        try await ServerGroup.run(
            server, with: [.init(service: progress, successTerminationBehavior: .gracefullyShutdownGroup)], logger: logger)
        if let outcome = progress.outcome, outcome != "completed" { throw ExitCode(1) }
    }
}

extension Dev {
    /// Adds the web UI on `--ui` (or the next free port) unless `--no-ui`; returns its host.
    func addWebUI(to options: inout KeelServer.Options) throws -> String? {
        #if canImport(KeelWeb)
        guard !noUi else { return nil }
        let address: ListenAddress
        do { address = try ListenAddress(parsing: ui) } catch let error as KeelError { throw ValidationError("--ui \(error.message)") }
        try WebOptions.add(http: ui, readOnly: false, nextFreePortIfTaken: true, to: &options, command: "dev")
        return address.host
        #else
        return nil
        #endif
    }
}

/// Starts the project's workflow and prints its journal as it grows.
final class DevProgress: Service, @unchecked Sendable {
    // @unchecked: `outcome` is written once by `run` before the group ends and read after it.
    let server: KeelServer
    let config: DevConfig
    let keepServing: Bool
    /// Where the web UI listens (its port is known once the server is ready); nil: no UI.
    let uiHost: String?
    var outcome: String?

    init(server: KeelServer, config: DevConfig, keepServing: Bool, uiHost: String? = nil) {
        self.server = server
        self.config = config
        self.keepServing = keepServing
        self.uiHost = uiHost
    }

    func run() async throws {
        let endpoints = try await server.ready()
        if let uiHost, let port = endpoints.sidecarPorts["http"] {
            say("  web UI: http://\(ListenAddress(host: uiHost, port: port))/ (open it in a browser; docs/ui.md)")
        }
        guard let run = config.run, let socket = endpoints.socketPath else {
            try await gracefulShutdown()
            return
        }
        let endpoint = Endpoint.unixSocket(path: socket)
        let result: String
        do {
            result = try await following(endpoint, run: run, socket: socket)
        } catch where Task.isShuttingDownGracefully {
            // SIGTERM or SIGINT ended the follow-up: the server drains and `keel dev` exits 0.
            // Throwing here would make the service group cancel the server instead of draining it.
            return
        }
        outcome = result
        if keepServing { try await gracefulShutdown() }
    }

    /// Starts the workflow and follows it until it ends or a graceful shutdown begins.
    private func following(_ endpoint: Endpoint, run: (workflow: String, workflowId: String, input: JSONValue), socket: String)
        async throws -> String
    {
        try await cancelWhenGracefulShutdown {
            try await KeelClient.withClient(endpoint, name: "keel-dev") { client -> String in
                let started = try await client.call(
                    WorkflowStartParams(name: run.workflow, input: run.input, workflowId: run.workflowId))
                say(started.started ? "started \(run.workflow) as \(run.workflowId)" : "continuing \(run.workflowId) (status \(started.status.rawValue))")
                return try await self.follow(client, id: run.workflowId, socket: socket)
            }
        }
    }

    /// Prints new and changed journal entries until the workflow ends; returns its final status.
    private func follow(_ client: KeelClient, id: String, socket: String) async throws -> String {
        var watcher = HistoryWatcher()
        var lastStatus = ""
        while true {
            let h = try await client.call(WorkflowHistoryParams(workflowId: id))
            for e in watcher.changes(h) {
                say("  " + formatEntry(e))
                if e.kind == .signal, e.status == .scheduled {
                    let name = e.name
                    // An update rides a signal named update:NAME, which only workflow/update sends.
                    if name.hasPrefix("update:") {
                        let update = name.dropFirst("update:".count)
                        say("    waiting for update \"\(update)\" — send it with:")
                        say("    keel workflow update \(id) \(update) '{}' --socket \(socket)")
                    } else {
                        say("    waiting for signal \"\(name)\" — send it with:")
                        say("    keel workflow signal \(id) \(name) '{\"approved\":true}' --socket \(socket)")
                    }
                }
            }
            let status = h.status?.rawValue ?? ""
            if status != lastStatus {
                lastStatus = status
                if status == "suspended" || status == "parked" { say("  [\(status)]") }
            }
            if ["completed", "failed", "cancelled", "terminated", "timedOut"].contains(status) {
                let r = try await client.call(WorkflowResultParams(workflowId: id, waitTimeoutMs: 0))
                if status == "completed" {
                    say("completed: \(JSONWriter.string(r.output ?? .null, sortedKeys: true))")
                } else {
                    say("\(status): \(r.failure?.type ?? "") \(r.failure?.message ?? "")")
                }
                // The socket closes when `keel dev` exits: a command on it only works with --serve.
                if keepServing {
                    say("history: keel workflow history \(id) --socket \(socket)  (serving until Ctrl-C)")
                } else {
                    say("history: run `keel dev \(config.directory) --serve` to keep the orchestrator up and inspect it")
                }
                return status
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// Writes a line at once (unbuffered), so progress appears as it happens in a pipe or a CI log.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
