/// Where an orchestrator listens.
public enum Endpoint: Sendable, Hashable {
    case unixSocket(path: String)
    case tcp(host: String, port: Int, token: String)
    /// This process's stdin and stdout, when the orchestrator spawned it (`KEEL_TRANSPORT=stdio`).
    case stdio

    /// The endpoint from `KEEL_TRANSPORT=stdio`, `KEEL_SOCKET`, or `KEEL_TCP` + `KEEL_TOKEN`, else `./keel.sock`.
    public static func fromEnvironment(_ env: [String: String]) -> Endpoint {
        if env["KEEL_TRANSPORT"] == "stdio" { return .stdio }
        if let tcp = env["KEEL_TCP"], let colon = tcp.lastIndex(of: ":"), let port = Int(tcp[tcp.index(after: colon)...]) {
            return .tcp(host: String(tcp[..<colon]), port: port, token: env["KEEL_TOKEN"] ?? "")
        }
        return .unixSocket(path: env["KEEL_SOCKET"] ?? "keel.sock")
    }
}
