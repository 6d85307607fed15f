import ArgumentParser
import Foundation
import KeelCore
import KeelEngine
import KeelServer

/// `keel serve`'s TLS flags (docs/security.md "TLS").
struct ServeTLSOptions: ParsableArguments {
    @Option(help: "PEM certificate (then any intermediates) for TLS on the TCP listener; needs --tls-key.")
    var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert (mode 0600: refused if group or others can read it).")
    var tlsKey: String?
    @Option(help: "PEM CA certificates: TCP peers must present a client certificate signed by one of them.")
    var tlsClientCa: String?
    @Option(
        help: ArgumentHelp(
            "Role of a peer with a verified client certificate and no token: admin, client or worker (needs --tls-client-ca).",
            discussion: "Without it, the client certificate is an extra gate and the token still decides the role."))
    var tlsClientRole: String?

    /// Checks the flags fit together (not the files: ``load()`` does).
    func validate(tcp: String?) throws {
        let any = tlsCert != nil || tlsKey != nil || tlsClientCa != nil || tlsClientRole != nil
        guard any else { return }
        guard tcp != nil else { throw ValidationError("the --tls-* options need --tcp: TLS is for the TCP listener") }
        guard tlsCert != nil, tlsKey != nil else { throw ValidationError("TLS needs both --tls-cert and --tls-key") }
        if let tlsClientRole {
            guard Role(rawValue: tlsClientRole) != nil else {
                throw ValidationError("--tls-client-role takes admin, client or worker")
            }
            guard tlsClientCa != nil else { throw ValidationError("--tls-client-role needs --tls-client-ca") }
        }
    }

    /// The server's TLS options with every file loaded once, so a bad file stops `keel serve`
    /// before it opens anything; nil when TLS is off.
    /// - Throws: `ExitCode(1)` after printing which file is wrong and why.
    func load() throws -> ServerTLSOptions? {
        guard let tlsCert, let tlsKey else { return nil }
        let options = ServerTLSOptions(
            certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: tlsClientCa,
            clientRole: tlsClientRole.flatMap(Role.init(rawValue:)))
        do {
            try options.check()
        } catch let error as KeelError {
            FileHandle.standardError.write(Data("keel serve: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        return options
    }
}
