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
    /// `KEEL_TLS_KEY` name a client certificate). When the variable lists several endpoints, the first.
    public static func fromEnvironment(_ env: [String: String]) -> Endpoint {
        listFromEnvironment(env)[0]
    }

    /// Every endpoint from the environment, in the order to try them (docs/clients.md "Several
    /// endpoints"): `KEEL_SOCKET=a.sock,b.sock` or `KEEL_TCP=h1:7000,h2:7000` (spaces around entries
    /// ignored; a socket path containing a comma cannot be given this way: pass an ``Endpoint``).
    /// Never empty: `KEEL_TRANSPORT=stdio` gives `[.stdio]`, nothing set gives `./keel.sock`.
    public static func listFromEnvironment(_ env: [String: String]) -> [Endpoint] {
        if env["KEEL_TRANSPORT"] == "stdio" { return [.stdio] }
        let entries = { (value: String) -> [String] in
            value.split(separator: ",").map { entry in
                String(entry.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            }.filter { !$0.isEmpty }
        }
        if let tcp = env["KEEL_TCP"] {
            let token = env["KEEL_TOKEN"] ?? "", tls = TLSClientOptions.fromEnvironment(env)
            let listed: [Endpoint] = entries(tcp).compactMap { address in
                guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                    return nil
                }
                let host = String(address[..<colon])
                if let tls { return .tls(host: host, port: port, token: token, options: tls) }
                return .tcp(host: host, port: port, token: token)
            }
            if !listed.isEmpty { return listed }
        }
        let sockets = entries(env["KEEL_SOCKET"] ?? "").map { Endpoint.unixSocket(path: $0) }
        return sockets.isEmpty ? [.unixSocket(path: "keel.sock")] : sockets
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
