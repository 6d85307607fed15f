import KeelEngine
import Logging
import NIOSSL

/// The TCP listener's TLS: the server context, the report of failed TLS handshakes, and what a
/// verified client certificate grants (docs/security.md "TLS").
extension KeelServer {
    /// The TLS context and failure report for the TCP listener; nil when TLS is off.
    /// - Throws: `KeelError(.invalidParams)` when a certificate or key file cannot be used.
    func makeTLS(admission: Admission) throws -> (context: NIOSSLContext, onFailure: TLSFailureWatch.Report)? {
        guard let tls = options.tls else { return nil }
        let context = try tls.makeContext()
        let logger = self.logger
        return (
            context,
            { peer, reason in
                // Counted like a failed token check: a peer that keeps failing is throttled.
                admission.recordAuthFailure(peer: peer)
                logger.info("TLS handshake failed", metadata: ["peer": "\(peer ?? "-")", "reason": "\(reason)"])
            }
        )
    }

    /// What a TCP peer with a verified client certificate and no token gets
    /// (`--tls-client-role`); nil when a token is needed.
    var certificateGrant: Grant? {
        options.tls?.clientCertificateGrant(workerNames: options.workerNames)
    }

    /// For the start-up log line: `off`, `on`, or `on+client-cert(role)`.
    var tlsSummary: String {
        guard let tls = options.tls else { return "off" }
        guard tls.clientCAFile != nil else { return "on" }
        return "on+client-cert(\(tls.clientRole?.rawValue ?? "token decides"))"
    }
}
