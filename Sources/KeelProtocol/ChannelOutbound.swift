import NIOCore
import Synchronization
import KeelCore

/// Queues outgoing lines and writes them in as few syscalls as the load allows: the first line
/// queued schedules one task on the channel's event loop, which writes and flushes every line
/// queued by then. No task of our own sits between a sender and the socket (docs/performance.md).
///
/// Backpressure, not disconnection (issue 10, item 5): a slow reader is never dropped for being
/// slow. Above `highWaterBytes` the outbound reports no room (``hasRoom``) so the engine stops
/// dispatching to it, and its read loop pauses (``waitForRoom()``) once `pauseReadingBytes` are
/// queued; when it drains below the mark the drain handler runs. Only a peer that makes no
/// progress at all for `stallTimeout` while bytes are pending is cut off.
final class ChannelOutbound: RPCOutbound {
    private struct State {
        var buffer: [UInt8] = []
        var flushScheduled = false
        /// Bytes handed to NIO and not yet written to the socket.
        var inFlightBytes = 0
        var finished = false
        /// When bytes last left (or, with none pending before, first became pending).
        var lastProgress = NIODeadline.now()
        var watchdogArmed = false
        var onDrained: (@Sendable () -> Void)?
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        /// Bytes of messages decided but not yet written (``reserve(_:)``).
        var reserved = 0
        var pending: Int { unwritten + reserved }
        /// Bytes given to ``write(_:)`` and not yet on the socket; the stall watchdog looks only
        /// at these (a reservation waits on the store, not on the peer).
        var unwritten: Int { buffer.count + inFlightBytes }
    }

    /// Bytes per write handed to NIO, so progress is seen while a large message is written.
    static let chunkBytes = 256 * 1024

    private let state = Locked(State())
    private let channel: any Channel
    private let highWaterBytes: Int
    private let pauseReadingBytes: Int
    private let stallTimeout: TimeAmount

    init(channel: any Channel, limits: RPCChannel.Limits) {
        self.channel = channel
        self.highWaterBytes = limits.writeHighWaterBytes
        self.pauseReadingBytes = max(limits.maxPendingWriteBytes, limits.writeHighWaterBytes)
        self.stallTimeout = .milliseconds(limits.writeStallTimeoutMs)
    }

    var hasRoom: Bool { state.withLock { !$0.finished && $0.pending < highWaterBytes } }

    func setDrainHandler(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.onDrained = handler }
    }

    func reserve(_ bytes: Int) {
        state.withLock { $0.reserved += bytes }
    }

    /// Gives back a reservation. It does not run the drain handler: the reserved message is
    /// usually written right after, and a waking dispatcher must see it queued.
    func release(_ bytes: Int) {
        state.withLock { $0.reserved = max(0, $0.reserved - bytes) }
    }

    func write(_ bytes: [UInt8]) {
        let schedule = state.withLock { s -> Bool in
            if s.finished { return false }
            if s.unwritten == 0 { s.lastProgress = .now() }
            s.buffer.append(contentsOf: bytes)
            if s.flushScheduled { return false }
            s.flushScheduled = true
            return true
        }
        if schedule { channel.eventLoop.execute { self.flushNow() } }
    }

    /// Returns once fewer than the pause threshold are queued (or the connection is over); the
    /// read loop calls it before each frame so a peer that sends but never reads stops being read.
    func waitForRoom() async {
        // The common case, checked without making a continuation: this runs after every frame.
        if state.withLock({ $0.finished || $0.pending < pauseReadingBytes }) { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.finished || s.pending < pauseReadingBytes { return true }
                s.roomWaiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }

    /// On the event loop: hands everything queued to the socket, in chunks, with one flush.
    private func flushNow() {
        let (bytes, armWatchdog) = state.withLock { s -> ([UInt8], Bool) in
            s.flushScheduled = false
            defer { s.buffer = [] }
            s.inFlightBytes += s.buffer.count
            let arm = !s.watchdogArmed && s.inFlightBytes > 0
            if arm { s.watchdogArmed = true }
            return (s.buffer, arm)
        }
        if armWatchdog { scheduleWatchdog(after: stallTimeout) }
        guard !bytes.isEmpty else { return }
        var all = ByteBuffer(bytes: bytes)
        while all.readableBytes > 0 {
            let chunk = all.readSlice(length: min(Self.chunkBytes, all.readableBytes))!
            let count = chunk.readableBytes
            channel.write(chunk).whenComplete { _ in self.wrote(count) }
        }
        channel.flush()
    }

    /// A chunk left (or failed with the channel): record progress, wake whoever waits for room.
    private func wrote(_ count: Int) {
        let (drained, waiters) = state.withLock { s -> ((@Sendable () -> Void)?, [CheckedContinuation<Void, Never>]) in
            let before = s.pending
            s.inFlightBytes -= count
            s.lastProgress = .now()
            let drained = before >= highWaterBytes && s.pending < highWaterBytes ? s.onDrained : nil
            guard s.pending < pauseReadingBytes else { return (drained, []) }
            defer { s.roomWaiters = [] }
            return (drained, s.roomWaiters)
        }
        for w in waiters { w.resume() }
        drained?()
    }

    /// Cuts off a peer that read nothing for `stallTimeout` while bytes were pending.
    private func scheduleWatchdog(after delay: TimeAmount) {
        channel.eventLoop.scheduleTask(in: delay) {
            let verdict = self.state.withLock { s -> TimeAmount? in
                if s.unwritten == 0 || s.finished {
                    s.watchdogArmed = false
                    return nil
                }
                let idle = NIODeadline.now() - s.lastProgress
                return idle >= self.stallTimeout ? .zero : self.stallTimeout - idle
            }
            guard let verdict else { return }
            if verdict == .zero { self.abort() } else { self.scheduleWatchdog(after: verdict) }
        }
    }

    /// Writes what is queued (e.g. the error that explains the close), then closes.
    func close() {
        let waiters = finishAndTakeWaiters(dropQueued: false)
        for w in waiters { w.resume() }
        channel.eventLoop.execute {
            self.flushNow()
            self.channel.close(promise: nil)
        }
    }

    /// Closes at once, dropping what is queued.
    func abort() {
        let waiters = finishAndTakeWaiters(dropQueued: true)
        for w in waiters { w.resume() }
        channel.close(promise: nil)
    }

    /// Stops accepting lines (the connection is over); what is queued is still written.
    func finish() {
        let waiters = finishAndTakeWaiters(dropQueued: false)
        for w in waiters { w.resume() }
    }

    private func finishAndTakeWaiters(dropQueued: Bool) -> [CheckedContinuation<Void, Never>] {
        state.withLock { s in
            s.finished = true
            if dropQueued { s.buffer = [] }
            defer { s.roomWaiters = [] }
            return s.roomWaiters
        }
    }
}
