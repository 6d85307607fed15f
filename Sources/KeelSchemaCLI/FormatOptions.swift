public import ArgumentParser

/// `--format text|json`, the one output switch of every `keel` command that prints data
/// (issue 13). `--json` stays as a hidden alias of `--format json`, so scripts written
/// against `schema diff --json` or `workflow list --json` keep working.
public struct FormatOptions: ParsableArguments, Sendable {
    /// The formats a person or a script can ask for.
    public enum Kind: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// Aligned lines for a person (the default).
        case text
        /// The answer as the wire has it, one JSON value (or JSON Lines) on stdout; errors as JSON on stderr.
        case json
    }

    @Option(name: .customLong("format"), help: "Output: text or json.")
    public var kind: Kind = .text

    @Flag(name: .customLong("json"), help: .hidden)
    public var jsonAlias = false

    public init() {}

    /// True for `--format json` or `--json`.
    public var isJSON: Bool { kind == .json || jsonAlias }
}
