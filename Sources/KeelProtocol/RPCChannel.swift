public import KeelCore
public import NIOCore
import Synchronization

/// Runs an ``RPCConnection`` over a NIO channel: the glue every transport shares (Unix socket,
/// TCP, a child's stdio, and the client side of each).
public enum RPCChannel {
    /// Per-connection limits.
    public struct Limits: Sendable {
        /// The line decoder's frame limit.
        public var maxFrameBytes = LineFrameDecoder.defaultMaximumFrameBytes
        /// Requests served at once on one connection; past this the connection stops reading
        /// (TCP backpressure) until one finishes, so a burst cannot exhaust memory.
        public var maxConcurrentRequests = 512
        /// Bytes queued for a peer that does not read them; past this the connection stops
        /// reading its input until the queue drains (it is not closed for being slow).
        public var maxPendingWriteBytes = 64 * 1024 * 1024
        /// Above this many queued outgoing bytes the peer gets no new dispatches
        /// (``RPCOutbound/hasRoom``) until it drains below it.
        public var writeHighWaterBytes = 8 * 1024 * 1024
        /// A peer with bytes pending that reads none of them for this long is cut off.
        public var writeStallTimeoutMs: Int64 = 60_000
        /// Items one batch may hold; a larger batch is refused whole with `-32010`.
        public var maxBatchItems = 1024
        /// Where frames of ``LongWork/thresholdBytes`` or more are parsed, so that a large frame
        /// holds up only its own connection, not the thread that reads the others (one event loop
        /// for every connection, `keel serve`'s default); nil parses every frame where it was read.
        public var longWork: (any TaskExecutor)?
        public init() {}
    }

    /// Installs the line decoder and wraps the channel for async use. Call in a channel initializer.
    ///
    /// The async side is inbound only (`Outbound == Never`, its writer finished at once): answers
    /// go straight to the channel through ``ChannelOutbound``, and a wrapper dropped unused — a
    /// connection accepted just as the server closes — has no writer left to trap on deinit.
    public static func configure(_ channel: any Channel, limits: Limits) -> EventLoopFuture<NIOAsyncChannel<Frame, Never>> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                ByteToMessageHandler(LineFrameDecoder(maximumFrameBytes: limits.maxFrameBytes)))
            return try NIOAsyncChannel<Frame, Never>(wrappingChannelSynchronously: channel)
        }
    }

    /// Serves one connection until the peer closes it (or ``RPCConnection/close()`` is called).
    ///
    /// - Parameters:
    ///   - setUp: makes the handler for the new connection; runs before the first frame is read.
    ///   - afterRequest: runs after each answered request; return true to close the connection.
    ///   - tearDown: runs once the connection is closed and its pending calls have failed.
    public static func serve(
        _ asyncChannel: NIOAsyncChannel<Frame, Never>,
        limits: Limits,
        setUp: (RPCConnection) async -> any RPCHandler,
        afterRequest: @escaping @Sendable () -> Bool = { false },
        tearDown: (RPCConnection) async -> Void
    ) async {
        let outbound = ChannelOutbound(channel: asyncChannel.channel, limits: limits)
        let limiter = AsyncLimiter(limits.maxConcurrentRequests)
        let connection = RPCConnection(outbound: outbound, requestLimiter: limiter)
        connection.maxBatchItems = limits.maxBatchItems
        connection.maxReplyBytes = limits.maxFrameBytes
        let handler = await setUp(connection)
        try? await asyncChannel.executeThenClose { inbound, _ in
            await readLoop(inbound, connection: connection, outbound: outbound, handler: handler, limiter: limiter,
                longWork: limits.longWork, afterRequest: afterRequest)
        }
        await tearDown(connection)
    }

    /// Connects as a client: like ``serve(_:limits:setUp:afterRequest:tearDown:)``, but hands the
    /// connection to `body` and closes when `body` returns.
    public static func withConnection<T: Sendable>(
        _ asyncChannel: NIOAsyncChannel<Frame, Never>,
        limits: Limits,
        handler: any RPCHandler,
        _ body: @escaping @Sendable (RPCConnection) async throws -> T
    ) async throws -> T {
        let outbound = ChannelOutbound(channel: asyncChannel.channel, limits: limits)
        let limiter = AsyncLimiter(limits.maxConcurrentRequests)
        let connection = RPCConnection(outbound: outbound, requestLimiter: limiter)
        connection.maxBatchItems = limits.maxBatchItems
        connection.maxReplyBytes = limits.maxFrameBytes
        return try await asyncChannel.executeThenClose { inbound, _ in
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    await readLoop(
                        inbound, connection: connection, outbound: outbound, handler: handler, limiter: limiter,
                        longWork: limits.longWork)
                    return nil
                }
                group.addTask { try await body(connection) }
                defer {
                    connection.close()
                    group.cancelAll()
                }
                // The first child to finish decides: the body's result, or the reader's end
                // (the peer closed), which cancels the body through the defer above — after a
                // short grace, so an answer that came just before the close (an `unauthorized`
                // error, say) reaches the caller instead of a bare "connection closed".
                if let r = try await group.next(), let r { return r }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(200))
                    return nil
                }
                if let r = try await group.next(), let r { return r }
                throw KeelError(.connectionClosed, "the connection closed")
            }
        }
    }
}

extension RPCChannel {
    /// Reads frames until the peer closes, serving each request in a child task (bounded by
    /// `limiter`), then fails pending calls and stops the outbound side. Large frames are parsed
    /// on `longWork` when given.
    static func readLoop(
        _ inbound: NIOAsyncChannelInboundStream<Frame>, connection: RPCConnection, outbound: ChannelOutbound,
        handler: any RPCHandler, limiter: AsyncLimiter, longWork: (any TaskExecutor)?,
        afterRequest: @escaping @Sendable () -> Bool = { false }
    ) async {
        // A task set, not a task group: a worker's connection holds a request per open execution
        // (TaskSet).
        await TaskSet.run { requests in
            do {
                for try await frame in inbound {
                    guard let work = await receive(frame, on: connection, longWork: longWork) else { continue }
                    handler.received(work, connection: connection)
                    await limiter.acquire()
                    requests.start {
                        // A deferred answer gives the slot back when it is sent.
                        if await connection.serve(work, handler: handler) { limiter.release() }
                        if afterRequest() { outbound.close() }
                    }
                    // A peer that sends but does not read its answers is no longer read.
                    await outbound.waitForRoom()
                }
            } catch {
                // The peer reset the connection; treat it as closed.
            }
            connection.closed()
            outbound.finish()
        }
    }
}

extension RPCChannel {
    /// ``RPCConnection/receive(_:)``, on `longWork` for a frame of ``LongWork/thresholdBytes`` or
    /// more. The reader waits for it either way: frames are received in order.
    static func receive(_ frame: Frame, on connection: RPCConnection, longWork: (any TaskExecutor)?) async
        -> RPCInbound?
    {
        guard let longWork, case .line(let buffer) = frame, buffer.readableBytes >= LongWork.thresholdBytes else {
            return connection.receive(frame)
        }
        return await withTaskExecutorPreference(longWork) { connection.receive(frame) }
    }
}

/// A counting semaphore for async code; waits are FIFO.
public final class AsyncLimiter: Sendable {
    private struct State {
        var available: Int
        var capacity: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Locked<State>

    init(_ count: Int) { state = Locked(State(available: count, capacity: count)) }

    /// Raises the capacity (never lowers it), releasing waiters that now fit.
    public func raise(to capacity: Int) {
        let released = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard capacity > s.capacity else { return [] }
            s.available += capacity - s.capacity
            s.capacity = capacity
            let n = min(s.available, s.waiters.count)
            s.available -= n
            defer { s.waiters.removeFirst(n) }
            return Array(s.waiters.prefix(n))
        }
        for w in released { w.resume() }
    }

    func acquire() async {
        await withCheckedContinuation { c in
            let granted = state.withLock { s -> Bool in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if granted { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
