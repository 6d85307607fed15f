import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelEngine
import KeelServer
import KeelTesting
import Testing

/// Issue 11, item 5: TLS on the TCP listener, with a CA and certificates the test makes itself.
@Suite("TLS on the TCP listener", .serialized, .timeLimit(.minutes(3)))
struct TLSTests {
    static let token = "tls-test-token-0123456789"

    /// An orchestrator whose TCP listener speaks TLS with `certs`' server certificate.
    func withTLS(
        configure: @escaping (inout KeelServer.Options, TestCertificates) -> Void = { _, _ in },
        _ body: @escaping @Sendable (_ port: Int, _ certs: TestCertificates, _ unix: Endpoint) async throws -> Void
    ) async throws {
        try await TemporaryDirectory.with { dir in
            let certs = try TestCertificates(in: dir)
            try await LiveOrchestrator.with(in: dir, configure: {
                $0.tcpAddress = ("127.0.0.1", 0)
                $0.token = Self.token
                $0.tls = ServerTLSOptions(certificateFile: certs.serverCertificate, keyFile: certs.serverKey)
                configure(&$0, certs)
            }) { unix, server in
                let port = try await server.ready().tcpPort!
                try await body(port, certs, unix)
            }
        }
    }

    func ping(_ endpoint: Endpoint) async throws -> JSONValue {
        try await KeelClient.withClient(endpoint) { try await $0.call("ping") }
    }

    static func endpoint(_ port: Int, _ options: TLSClientOptions, token: String = token) -> Endpoint {
        .tls(host: "127.0.0.1", port: port, token: token, options: options)
    }

    @Test func aClientThatTrustsTheCAInitializesAndRunsAnActivity() async throws {
        try await withTLS { port, certs, unix in
            let counter = Counter()
            // The worker connects over TLS too.
            let tls = Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate))
            try await LiveOrchestrator.withWorker(makeWorker(tls, counter: counter)) {
                try await waitForWorkers(unix, 1)
                let pong = try await ping(tls)
                #expect(pong == [:])
                let result = try await call(tls, "greet.hello", ["name": "TLS"])
                #expect(result["output"] == ["greeting": "Hello, TLS"], "\(result)")
                // By name too: the certificate names localhost.
                let named = Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate, serverName: "localhost"))
                let byName = try await ping(named)
                #expect(byName == [:])
            }
        }
    }

    @Test func aPlaintextPeerOnTheTLSPortIsClosedAndTheServerKeepsServing() async throws {
        try await withTLS { port, certs, _ in
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            raw.setReceiveTimeout(seconds: 30)
            await raw.send(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"1","token":"\#(Self.token)"}}"# + "\n")
            // No JSON-RPC answer in clear text, only the connection's end.
            #expect(await raw.readLine() == nil)
            #expect(await raw.isClosedByPeer())
            let tls = Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate))
            let pong = try await ping(tls)
            #expect(pong == [:])
        }
    }

    @Test func aClientThatDoesNotTrustTheCAFailsTheHandshakeWithAClearError() async throws {
        try await withTLS { port, certs, _ in
            // The system trust store does not hold the test's CA.
            let error = await #expect(throws: KeelError.self) {
                try await KeelClient.withClient(Self.endpoint(port, TLSClientOptions())) { try await $0.call("ping") }
            }
            #expect(error?.code == .connectionClosed)
            #expect(error?.message.contains("TLS handshake") == true, "\(String(describing: error))")
            #expect(error?.message.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(String(describing: error))")
            // Plain TCP to the TLS port does not get an answer either.
            await #expect(throws: KeelError.self) {
                try await KeelClient.withClient(.tcp(host: "127.0.0.1", port: port, token: Self.token)) { try await $0.call("ping") }
            }
            let tls = Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate))
            let pong = try await ping(tls)
            #expect(pong == [:])
        }
    }

    @Test func failedTLSHandshakesCountAgainstTheAuthFailureThrottle() async throws {
        try await withTLS(configure: { o, _ in o.connections.maxAuthFailuresPerMinute = 2 }) { port, certs, unix in
            for _ in 0..<2 {
                let raw = try RawSocket(host: "127.0.0.1", port: port)
                raw.setReceiveTimeout(seconds: 30)
                await raw.send("not TLS\n")
                #expect(await raw.isClosedByPeer())
            }
            // The same address is now refused, even with the right CA: the connection is closed
            // (during the TLS handshake, or just after it when the server had already read the hello).
            let refused = await #expect(throws: KeelError.self) {
                try await ping(Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate)))
            }
            #expect(refused?.code == .connectionClosed, "\(String(describing: refused))")
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            raw.setReceiveTimeout(seconds: 30)
            #expect(await raw.isClosedByPeer(), "a refused TLS connection is closed, not left open")
            // Other listeners are not affected.
            let pong = try await ping(unix)
            #expect(pong == [:])
        }
    }

    @Test func aPeerThatNeverFinishesTheTLSHandshakeIsClosedAtTheDeadline() async throws {
        try await withTLS(configure: { o, _ in o.connections.handshakeTimeoutMs = 2_000 }) { port, _, _ in
            let raw = try RawSocket(host: "127.0.0.1", port: port)
            raw.setReceiveTimeout(seconds: 60)
            // Connected, silent: neither a TLS hello nor a line.
            #expect(await raw.isClosedByPeer())
        }
    }

    @Test func withAClientCAOnlyPeersWithASignedCertificateGetIn() async throws {
        try await withTLS(configure: { o, certs in o.tls?.clientCAFile = certs.caCertificate }) { port, certs, _ in
            let withoutCert = Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate))
            await #expect(throws: KeelError.self) {
                try await KeelClient.withClient(withoutCert) { try await $0.call("ping") }
            }
            let mutual = TLSClientOptions(
                caFile: certs.caCertificate, certificateFile: certs.clientCertificate, keyFile: certs.clientKey)
            let pong = try await ping(Self.endpoint(port, mutual))
            #expect(pong == [:])
            // The certificate is a gate, not a credential: without --tls-client-role the token decides.
            let noToken = await #expect(throws: KeelError.self) {
                try await KeelClient.withClient(Self.endpoint(port, mutual, token: "")) { try await $0.call("ping") }
            }
            #expect(noToken?.code == .unauthorized, "\(String(describing: noToken))")
        }
    }

    @Test func aClientRoleLetsAVerifiedCertificateInWithoutAToken() async throws {
        try await withTLS(configure: { o, certs in
            o.token = nil
            o.tls?.clientCAFile = certs.caCertificate
            o.tls?.clientRole = .client
        }) { port, certs, _ in
            let mutual = TLSClientOptions(
                caFile: certs.caCertificate, certificateFile: certs.clientCertificate, keyFile: certs.clientKey)
            // The client role may list work but not shut the orchestrator down.
            _ = try await KeelClient.withClient(Self.endpoint(port, mutual, token: "")) { try await $0.call("workflow/list", [:]) }
            let refused = await #expect(throws: KeelError.self) {
                try await KeelClient.withClient(Self.endpoint(port, mutual, token: "")) { try await $0.call("shutdown") }
            }
            #expect(refused?.code == .unauthorized, "\(String(describing: refused))")
            await #expect(throws: KeelError.self) {
                try await KeelClient.withClient(Self.endpoint(port, TLSClientOptions(caFile: certs.caCertificate), token: "")) {
                    try await $0.call("ping")
                }
            }
        }
    }

    @Test func badCertificateOrKeyFilesRefuseStartWithAMessageNamingTheFile() async throws {
        try await TemporaryDirectory.with { dir in
            let certs = try TestCertificates(in: dir)
            let garbage = dir.file("garbage.pem")
            try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
            chmod(garbage, 0o600)
            let openKey = dir.file("open.key")
            try FileManager.default.copyItem(atPath: certs.serverKey, toPath: openKey)
            chmod(openKey, 0o644)
            let cases: [(ServerTLSOptions, String)] = [
                (ServerTLSOptions(certificateFile: dir.file("missing.pem"), keyFile: certs.serverKey), "missing.pem"),
                (ServerTLSOptions(certificateFile: garbage, keyFile: certs.serverKey), "garbage.pem"),
                (ServerTLSOptions(certificateFile: certs.serverCertificate, keyFile: garbage), "garbage.pem"),
                (ServerTLSOptions(certificateFile: certs.serverCertificate, keyFile: openKey), "chmod 600"),
                (ServerTLSOptions(certificateFile: certs.serverCertificate, keyFile: certs.clientKey), "match"),
                (
                    ServerTLSOptions(certificateFile: certs.serverCertificate, keyFile: certs.serverKey, clientCAFile: garbage),
                    "client CA"
                ),
            ]
            for (options, expected) in cases {
                let error = #expect(throws: KeelError.self) { try options.check() }
                #expect(error?.code == .invalidParams)
                #expect(error?.message.contains(expected) == true, "\(String(describing: error)) should say \(expected)")
            }
        }
    }
}
