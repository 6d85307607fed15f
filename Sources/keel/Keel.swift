import ArgumentParser
import Foundation
import KeelSchemaCLI


/// Runs `keel`, first answering a mistyped subcommand with the ones close to it (exit 64, the
/// parser's usage-error code).
@main
enum KeelMain {
    static func main() async {
        EventLoopExecutor.install(arguments: CommandLine.arguments, environment: ProcessInfo.processInfo.environment)
        if let message = SubcommandSuggestion.message(root: Keel.self, arguments: Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data((message + "\n").utf8))
            exit(64)
        }
        await Keel.main()
    }
}

/// The `keel` command: the orchestrator and every tool around it.
struct Keel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keel",
        abstract: "Keel: durable execution for programs in any language.",
        version: "0.1.0",
        subcommands: [Serve.self, Dev.self, Call.self, TaskCommand.self, WorkflowCommand.self, ScheduleCommand.self, Workers.self, SchemaCommand.self, Bench.self, TokenCommand.self, ContractCommand.self, MCPCommand.self] + storeCommands
    )
}

#if canImport(KeelPostgres)
private let storeCommands: [any ParsableCommand.Type] = [StoreCommand.self]
#else
private let storeCommands: [any ParsableCommand.Type] = []
#endif
