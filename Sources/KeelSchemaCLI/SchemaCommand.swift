public import ArgumentParser

/// `keel schema`: validate instances, lint contracts, diff and check contract changes, benchmark.
///
/// A library command so the `keel` executable registers it as a subcommand
/// (`subcommands: [SchemaCommand.self]`) and tests can run it with `parseAsRoot`.
public struct SchemaCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Validate JSON against JSON Schemas and check activity contracts.",
        subcommands: [
            ValidateCommand.self, ValidateBatchCommand.self, LintCommand.self, DiffCommand.self, CheckCommand.self,
            BenchCommand.self,
        ])

    public init() {}
}
