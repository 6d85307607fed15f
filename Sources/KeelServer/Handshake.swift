import KeelCore
import KeelEngine
import KeelProtocol
import NIOCore
import Synchronization

/// One listener connection until `initialize` succeeds (issue 10, item 4): a small frame limit,
/// no batches, and a deadline after which the connection is told `-32008` and closed. Once the
/// session is initialized the full frame limit and batches are allowed and the deadline is off.
///
/// Stays outside `initialize` itself: it only watches ``Session/isInitialized`` after each answer.
final class Handshake: Sendable {
    /// The decoder's limit for this connection; starts at the handshake limit.
    let frameLimit: FrameLimit
    private let fullFrameBytes: Int
    private let timeoutMs: Int64
    private let deadline = Locked<Scheduled<Void>?>(nil)
    private let completed = Atomic<Bool>(false)

    /// - Parameters:
    ///   - frameLimit: the decoder's limit, already at the handshake size.
    ///   - fullFrameBytes: the limit once `initialize` succeeded.
    init(timeoutMs: Int64, frameLimit: FrameLimit, fullFrameBytes: Int) {
        self.fullFrameBytes = fullFrameBytes
        self.timeoutMs = timeoutMs
        self.frameLimit = frameLimit
    }

    /// Refuses batches on `session`'s connection and starts the deadline on `eventLoop`.
    func begin(_ session: Session, on eventLoop: any EventLoop) {
        session.connection.batchesAllowed = false
        let timeoutMs = self.timeoutMs
        let task = eventLoop.scheduleTask(in: .milliseconds(timeoutMs)) { [self] in
            guard !session.isInitialized, !completed.load(ordering: .acquiring) else { return }
            let error = KeelError(
                .handshakeTimedOut, "initialize did not succeed within \(timeoutMs) ms; the connection will close",
                data: ["timeoutMs": JSONValue(timeoutMs)])
            session.connection.send(.error(id: nil, error: RPCErrorObject(error)))
            session.connection.close()
        }
        deadline.withLock { $0 = task }
    }

    /// After each answered request: lifts the handshake limits once `initialize` succeeded.
    func check(_ session: Session) {
        guard session.isInitialized, !completed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        end()
        frameLimit.raise(to: fullFrameBytes)
        session.connection.batchesAllowed = true
    }

    /// Cancels the deadline (the handshake completed or the connection ended).
    func end() {
        deadline.withLock { $0 }?.cancel()
    }
}
