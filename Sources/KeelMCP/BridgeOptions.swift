/// How `keel mcp bridge` runs one MCP server as a Keel worker (docs/mcp.md).
public struct BridgeOptions: Sendable {
    /// The server's name in Keel: its tools become activities `mcp.NAME.TOOL`.
    public var name: String
    /// The server's command line.
    public var argv: [String]
    /// Each attempt's start-to-close timeout, registered with every tool; a server that has not
    /// answered a call by then is killed and restarted.
    public var startToCloseMs: Int64 = 60_000
    /// `maximumAttempts` per tool name (`*` for every tool), overriding what the annotations imply.
    public var maximumAttempts: [String: Int] = [:]
    /// Makes `isError: true` results retryable failures (default: not retryable).
    public var retryToolErrors = false
    /// A regular expression that marks a result with `isError: false` as the tool's error when its
    /// text matches (for servers that report failures as plain text), e.g. `^Error executing tool`.
    public var errorTextPattern: String?
    /// Calls the bridge runs on the server at once.
    public var maxConcurrent = 8
    /// Probe `server/discover` (2026-07-28) first and fall back to `initialize` (true), or go
    /// straight to `initialize` (false).
    public var probeModernRevision = true
    /// How long the server gets to answer `initialize` and each `tools/list` page.
    public var handshakeTimeout: Duration = .seconds(30)

    public init(name: String, argv: [String]) {
        self.name = name
        self.argv = argv
    }

    /// The activity name of `tool`.
    public func activityName(_ tool: String) -> String { "mcp.\(name).\(tool)" }

    /// How long the bridge waits for one `tools/call`: a little less than the start-to-close, so
    /// the bridge (which kills a wedged server) acts before Keel's own timeout cancels the attempt.
    var callTimeout: Duration {
        let margin = min(1_000, startToCloseMs / 2)
        return .milliseconds(startToCloseMs - margin)
    }
}
