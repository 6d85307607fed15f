public import KeelCore

/// What a request's `_meta` says about the revision it speaks (docs/mcp.md, "Protocol revisions").
///
/// In 2026-07-28 there is no `initialize`: every request carries
/// `io.modelcontextprotocol/protocolVersion` and `io.modelcontextprotocol/clientCapabilities`
/// (and optionally `io.modelcontextprotocol/clientInfo`) in its `_meta`. A request without the
/// version key is of the `initialize` era.
public struct RequestMeta: Sendable {
    public static let versionKey = "io.modelcontextprotocol/protocolVersion"
    public static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    public static let capabilitiesKey = "io.modelcontextprotocol/clientCapabilities"

    /// The revision the request names in `_meta`, nil for an `initialize`-era request.
    public let protocolVersion: String?
    /// The client's `name` (for logs), when it gave its info.
    public let clientName: String?

    public init(params: JSONValue) {
        let meta = params["_meta"]
        protocolVersion = meta?[Self.versionKey]?.stringValue
        clientName = meta?[Self.clientInfoKey]?["name"]?.stringValue
    }

    /// True when the request speaks ``ProtocolVersion/modern``: its answer carries `resultType`.
    public var isModern: Bool { protocolVersion == ProtocolVersion.modern }

    /// Every revision Keel's server answers, newest first (`server/discover`'s `supportedVersions`).
    public static var supportedVersions: [String] { [ProtocolVersion.modern] + ProtocolVersion.supported }

    /// Refuses a request naming a revision Keel does not speak, with MCP's `-32022`
    /// (`UnsupportedProtocolVersionError`, data `{supported, requested}`) so the client can pick
    /// another. A request naming an `initialize`-era revision in `_meta` is taken as that era.
    public func check() throws {
        guard let protocolVersion, protocolVersion != ProtocolVersion.modern,
            !ProtocolVersion.supported.contains(protocolVersion)
        else { return }
        throw KeelError(
            Self.unsupportedProtocolVersion,
            "Keel does not speak MCP protocol revision \"\(protocolVersion)\"; it speaks \(Self.supportedVersions.joined(separator: ", "))",
            data: [
                "supported": .array(Self.supportedVersions.map { .string($0) }), "requested": .string(protocolVersion),
            ])
    }

    /// MCP's JSON-RPC code for a revision the server does not speak (2026-07-28).
    public static let unsupportedProtocolVersion = KeelError.Code(rpcCode: -32022)
}
