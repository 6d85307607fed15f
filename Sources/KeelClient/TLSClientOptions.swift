/// How a client checks an orchestrator's TLS certificate and, optionally, proves itself with one
/// (docs/security.md "TLS"). Files are PEM.
public struct TLSClientOptions: Sendable, Hashable {
    /// CA certificates to trust for the server; nil: the system trust store.
    public var caFile: String?
    /// A client certificate (for `keel serve --tls-client-ca`), with ``keyFile``.
    public var certificateFile: String?
    /// The private key of ``certificateFile``.
    public var keyFile: String?
    /// The name the server's certificate must carry; nil: the host connected to (an IP address
    /// is matched against the certificate's IP entries).
    public var serverName: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }

    /// `KEEL_TLS_CA`, `KEEL_TLS_CERT`, `KEEL_TLS_KEY`, `KEEL_TLS_SERVER_NAME`; nil unless
    /// `KEEL_TLS=1` or `KEEL_TLS_CA` is set.
    public static func fromEnvironment(_ env: [String: String]) -> TLSClientOptions? {
        guard env["KEEL_TLS"] == "1" || env["KEEL_TLS_CA"] != nil else { return nil }
        return TLSClientOptions(
            caFile: env["KEEL_TLS_CA"], certificateFile: env["KEEL_TLS_CERT"], keyFile: env["KEEL_TLS_KEY"],
            serverName: env["KEEL_TLS_SERVER_NAME"])
    }
}
