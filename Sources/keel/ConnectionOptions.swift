import ArgumentParser
import Foundation
import KeelClient
import KeelCore
import KeelSchemaCLI
import KeelServer

/// How CLI commands reach the orchestrator.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Unix socket of the orchestrator, or several comma-separated, tried in order (default: $KEEL_SOCKET or ./keel.sock).")
    var socket: String?

    @Option(help: "host:port of the orchestrator's TCP listener, or several comma-separated, tried in order (needs --token or $KEEL_TOKEN).")
    var tcp: String?

    @Option(help: "Token for TCP (visible in /proc: prefer --token-file or $KEEL_TOKEN).")
    var token: String?

    @Option(help: "File holding the token, sent over TCP or the Unix socket (mode 0600).")
    var tokenFile: String?

    @Flag(help: "Speak TLS over --tcp (the server's certificate is checked against the system trust store or --tls-ca).")
    var tls = false

    @Option(help: "PEM CA certificates to trust for the server's certificate (implies --tls).")
    var tlsCa: String?

    @Option(help: "PEM client certificate, for a server started with --tls-client-ca (with --tls-key; implies --tls).")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Name the server's certificate must carry (default: the --tcp host).")
    var tlsServerName: String?

    @OptionGroup var output: FormatOptions

    /// True for `--format json` (or its hidden alias `--json`).
    var json: Bool { output.isJSON }

    func validate() throws {
        if socket != nil && tcp != nil { throw ValidationError("use --socket or --tcp, not both") }
        if let tcp, Self.entries(tcp).contains(where: { $0.split(separator: ":").count != 2 }) || Self.entries(tcp).isEmpty {
            throw ValidationError("--tcp takes host:port (or several, comma-separated)")
        }
        if let socket, Self.entries(socket).isEmpty { throw ValidationError("--socket takes a path (or several, comma-separated)") }
        if tlsOptions != nil && tcp == nil { throw ValidationError("the --tls options need --tcp") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// The TLS options from the flags; nil when none was given.
    var tlsOptions: TLSClientOptions? {
        guard tls || tlsCa != nil || tlsCert != nil || tlsKey != nil || tlsServerName != nil else { return nil }
        return TLSClientOptions(caFile: tlsCa, certificateFile: tlsCert, keyFile: tlsKey, serverName: tlsServerName)
    }

    /// The token from `--token-file`, sent on any transport; nil when none was given.
    func fileToken() throws -> String? {
        guard let tokenFile else { return nil }
        do { return try TokenFile.read(tokenFile) } catch let error as KeelError { throw ValidationError(error.message) }
    }

    /// The first endpoint of ``endpoints``.
    var endpoint: Endpoint { endpoints[0] }

    /// Where to connect, in the order to try (docs/clients.md, "Several endpoints"): the flags'
    /// comma-separated entries, else `$KEEL_SOCKET` / `$KEEL_TCP`'s, else `./keel.sock`.
    var endpoints: [Endpoint] {
        let env = ProcessInfo.processInfo.environment
        if let socket { return Self.entries(socket).map { .unixSocket(path: $0) } }
        if let tcp {
            let token = token ?? env["KEEL_TOKEN"] ?? ""
            let tls = tlsOptions ?? TLSClientOptions.fromEnvironment(env)
            return Self.entries(tcp).map { address in
                let parts = address.split(separator: ":")
                let host = String(parts[0]), port = Int(parts[1]) ?? 0
                if let tls { return .tls(host: host, port: port, token: token, options: tls) }
                return .tcp(host: host, port: port, token: token)
            }
        }
        return Endpoint.listFromEnvironment(env)
    }

    /// The non-empty comma-separated entries of a flag, trimmed.
    static func entries(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `30d` (or bare milliseconds) into milliseconds.
func parseDuration(_ text: String) throws -> Int64 {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        // `Int64(exactly:)` of a rounded finite value: "1e300s" or "nans" is refused, never a trap.
        if let n = Double(text.dropLast(suffix.count)), n > 0, let ms = Int64(exactly: (n * Double(factor)).rounded()),
            ms > 0
        {
            return ms
        }
    }
    if let n = Int64(text), n > 0 { return n }
    throw ValidationError("\(text) is not a duration; use e.g. 250ms, 30s, 5m, 2h, 30d")
}
