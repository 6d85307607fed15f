import Synchronization

/// A frame limit that can change while a connection is open: a connection starts with the small
/// pre-handshake limit and is raised to the full one once `initialize` succeeds (issue 10, item 4),
/// so an unauthenticated peer can make the decoder buffer at most the small limit.
///
/// Read by the line decoder on the channel's event loop, written by whoever completes the
/// handshake; both may run on any thread.
public final class FrameLimit: Sendable {
    private let bytes: Atomic<Int>

    /// - Parameter bytes: the limit in bytes until ``raise(to:)`` is called.
    public init(_ bytes: Int) { self.bytes = Atomic(bytes) }

    /// The current limit in bytes.
    public var value: Int { bytes.load(ordering: .relaxed) }

    /// Raises the limit (never lowers it).
    public func raise(to newValue: Int) {
        var current = bytes.load(ordering: .relaxed)
        while current < newValue {
            let (exchanged, original) = bytes.compareExchange(
                expected: current, desired: newValue, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
