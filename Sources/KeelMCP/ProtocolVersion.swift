/// The MCP revisions Keel speaks (docs/mcp.md, docs/decisions/0005-mcp.md).
public enum ProtocolVersion {
    /// What Keel asks for in `initialize`, and answers with when a client asks for it.
    public static let latest = "2025-11-25"
    /// Revisions whose `initialize`, `tools/list` and `tools/call` Keel understands, newest first.
    /// A server that answers one of them is spoken to in it; any other answer ends the handshake.
    public static let supported = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]

    /// The stateless revision the bridge probes for with `server/discover` (no `initialize`; every
    /// request carries its version and the client's info and capabilities in `_meta`).
    public static let modern = "2026-07-28"

    /// The revision to answer a client that asked for `requested`: the same when supported, else the latest.
    public static func negotiate(_ requested: String?) -> String {
        guard let requested, supported.contains(requested) else { return latest }
        return requested
    }
}
