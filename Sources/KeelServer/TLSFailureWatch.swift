import KeelProtocol
import NIOCore
import NIOSSL
import NIOTLS

/// Sits right after the TLS handler of a listener connection and turns a failed TLS handshake
/// (a plaintext peer, an untrusted or missing client certificate, a peer that refuses our
/// certificate) into one report and a closed connection. Nothing above it sees the error.
///
/// A peer that closes before sending a byte of TLS (a port probe, a load balancer's health
/// check) is closed quietly: it is not counted as a failure.
final class TLSFailureWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Called once per connection whose handshake failed, with the peer's address and a short reason.
    typealias Report = @Sendable (_ peer: String?, _ reason: String) -> Void

    private let report: Report
    private var handshakeCompleted = false
    private var reported = false

    init(report: @escaping Report) { self.report = report }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { handshakeCompleted = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if handshakeCompleted {
            // A peer that closes without close_notify: an ordinary end of the connection here.
            if case NIOSSLError.uncleanShutdown = error { return }
            context.fireErrorCaught(error)
            return
        }
        if !reported, !Self.isSilentClose(error) {
            reported = true
            report(context.channel.remoteAddress?.ipAddress, Self.reason(error))
        }
        context.close(promise: nil)
    }

    /// True for an EOF before the handshake got anywhere.
    private static func isSilentClose(_ error: any Error) -> Bool {
        if case NIOSSLError.handshakeFailed(.sslError(let stack)) = error {
            return stack == [.eofDuringHandshake]
        }
        return false
    }

    /// BoringSSL's reason, e.g. `WRONG_VERSION_NUMBER` or `CERTIFICATE_VERIFY_FAILED`.
    private static func reason(_ error: any Error) -> String { TLSReason.brief(error) }
}
