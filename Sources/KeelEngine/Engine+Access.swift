import KeelCore
import KeelProtocol
import Logging

/// Who may do what: the handshake's credential check and the per-request role check
/// (docs/security.md). Both stay here so the transport layer can wrap them (e.g. throttling).
extension Engine {
    /// Checks `method` against the connection's grant. Runs for every request after `initialize`,
    /// before its params are read.
    func authorize(_ method: String, session: Session) throws {
        guard let grant = session.grant else {
            throw KeelError(.notInitialized, "send initialize first: it must be the first request on a connection")
        }
        try Access.check(method, grant: grant)
    }

    /// The grant for `initialize`'s `token` on this session: a valid token's role, or the
    /// transport's anonymous grant when no token was sent. A failed check is logged with the
    /// peer (never the token) and the connection closes after the answer.
    func authenticate(token: String?, session: Session) throws -> Grant {
        if let token, !token.isEmpty {
            if let grant = session.credentials.authenticate(token) { return grant }
        } else if let anonymous = session.anonymous {
            return anonymous
        }
        AuthMetrics.failed(transport: session.transport, sentToken: !(token ?? "").isEmpty)
        logger.warning(
            "authentication failed",
            metadata: [
                "transport": "\(session.transport)", "peer": "\(session.peer ?? session.label)",
                "reason": "\(token == nil || token == "" ? "no token" : "unknown token")",
            ])
        session.closeAfterReply()
        throw KeelError(.unauthorized, "a valid token is required on this transport; the connection will close")
    }
}
