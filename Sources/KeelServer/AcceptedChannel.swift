import KeelProtocol
import NIOCore

/// What a listener's channel initializer hands to the accept loop: the connection and the frame
/// limit its decoder follows, which the handshake raises once `initialize` succeeds.
struct AcceptedChannel: Sendable {
    let channel: NIOAsyncChannel<Frame, Never>
    let frameLimit: FrameLimit

    /// Installs the line decoder with a limit that starts at `handshakeBytes`.
    static func configure(_ channel: any Channel, handshakeBytes: Int) -> EventLoopFuture<AcceptedChannel> {
        let limit = FrameLimit(handshakeBytes)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(limit: limit)))
            let wrapped = try NIOAsyncChannel<Frame, Never>(wrappingChannelSynchronously: channel)
            return AcceptedChannel(channel: wrapped, frameLimit: limit)
        }
    }
}
