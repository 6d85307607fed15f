/// Where an orchestrator listens.
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    case unixSocket(path: String)
    case tcp(host: String, port: Int, token: String)
    /// TCP with TLS (`keel serve --tls-cert …`): the server's certificate is checked against
    /// `options`' CA file or the system trust store (docs/security.md "TLS").
    case tls(host: String, port: Int, token: String, options: TLSClientOptions)
    /// This process's stdin and stdout, when the orchestrator spawned it (`KEEL_TRANSPORT=stdio`).
    case stdio

    /// The endpoint from `KEEL_TRANSPORT=stdio`, `KEEL_SOCKET`, or `KEEL_TCP` + `KEEL_TOKEN`, else `./keel.sock`.
    /// With `KEEL_TLS=1` or `KEEL_TLS_CA=FILE` the TCP endpoint speaks TLS (`KEEL_TLS_CERT` and
    /// `KEEL_TLS_KEY` name a client certificate).
    public static func fromEnvironment(_ env: [String: String]) -> Endpoint {
        if env["KEEL_TRANSPORT"] == "stdio" { return .stdio }
        if let tcp = env["KEEL_TCP"], let colon = tcp.lastIndex(of: ":"), let port = Int(tcp[tcp.index(after: colon)...]) {
            let host = String(tcp[..<colon]), token = env["KEEL_TOKEN"] ?? ""
            if let tls = TLSClientOptions.fromEnvironment(env) {
                return .tls(host: host, port: port, token: token, options: tls)
            }
            return .tcp(host: host, port: port, token: token)
        }
        return .unixSocket(path: env["KEEL_SOCKET"] ?? "keel.sock")
    }

    /// Where it is, never the token: `unix:keel.sock`, `tcp:host:port`, `tls:host:port`, `stdio`.
    public var description: String {
        switch self {
        case .unixSocket(let path): "unix:\(path)"
        case .tcp(let host, let port, _): "tcp:\(host):\(port)"
        case .tls(let host, let port, _, _): "tls:\(host):\(port)"
        case .stdio: "stdio"
        }
    }
}
