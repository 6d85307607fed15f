import ArgumentParser
import KeelSchemaCLI


/// The `keel` command: the orchestrator and every tool around it.
@main
struct Keel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keel",
        abstract: "Keel: durable execution for programs in any language.",
        version: "0.1.0",
        subcommands: [Serve.self, Dev.self, Call.self, TaskCommand.self, WorkflowCommand.self, Workers.self, SchemaCommand.self, Bench.self, TokenCommand.self, ContractCommand.self, MCPCommand.self] + storeCommands
    )
}

#if canImport(KeelPostgres)
private let storeCommands: [any ParsableCommand.Type] = [StoreCommand.self]
#else
private let storeCommands: [any ParsableCommand.Type] = []
#endif
