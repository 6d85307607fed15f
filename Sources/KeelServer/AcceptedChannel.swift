import KeelProtocol
import NIOCore
import NIOSSL

/// What a listener's channel initializer hands to the accept loop: the connection and the frame
/// limit its decoder follows, which the handshake raises once `initialize` succeeds.
struct AcceptedChannel: Sendable {
    let channel: NIOAsyncChannel<Frame, Never>
    let frameLimit: FrameLimit
    /// True when the connection speaks TLS: nothing can be written to it before its handshake.
    var isTLS = false

    /// Installs the line decoder with a limit that starts at `handshakeBytes`; with `tls`, a TLS
    /// server handler (and ``TLSFailureWatch``, which reports a failed TLS handshake) before it.
    static func configure(
        _ channel: any Channel, handshakeBytes: Int, tls: (context: NIOSSLContext, onFailure: TLSFailureWatch.Report)? = nil
    ) -> EventLoopFuture<AcceptedChannel> {
        let limit = FrameLimit(handshakeBytes)
        return channel.eventLoop.makeCompletedFuture {
            if let tls {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
                try channel.pipeline.syncOperations.addHandler(TLSFailureWatch(report: tls.onFailure))
            }
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(limit: limit)))
            let wrapped = try NIOAsyncChannel<Frame, Never>(wrappingChannelSynchronously: channel)
            return AcceptedChannel(channel: wrapped, frameLimit: limit, isTLS: tls != nil)
        }
    }
}
