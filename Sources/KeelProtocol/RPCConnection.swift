public import KeelCore
public import NIOCore
import Synchronization

/// Where a connection's outgoing bytes go. Implementations must be safe to call from any thread
/// and should coalesce writes (one syscall for many messages under load).
public protocol RPCOutbound: Sendable {
    /// Queues one or more complete lines for writing.
    func write(_ bytes: [UInt8])
    /// Closes the transport; pending writes may be dropped.
    func close()
    /// False while the peer is behind on reading (bytes queued above the high-water mark): the
    /// engine sends it no new work until it drains. Default: always true.
    var hasRoom: Bool { get }
    /// Sets what runs (on any thread) when the queue drains below the high-water mark after
    /// ``hasRoom`` was false. Call once, before sending. Default: ignored.
    func setDrainHandler(_ handler: @escaping @Sendable () -> Void)
    /// Counts `bytes` as queued before they are written, so ``hasRoom`` reflects a message that
    /// is decided but not yet sent. Pair with ``release(_:)`` once it is written (or dropped).
    func reserve(_ bytes: Int)
    /// Gives back a ``reserve(_:)``.
    func release(_ bytes: Int)
}

extension RPCOutbound {
    public var hasRoom: Bool { true }
    public func setDrainHandler(_ handler: @escaping @Sendable () -> Void) {}
    public func reserve(_ bytes: Int) {}
    public func release(_ bytes: Int) {}
}

/// Serves the requests and notifications that arrive on a connection.
public protocol RPCHandler: Sendable {
    /// Answers one request. Throw a `KeelError` to answer with its code; any other error becomes
    /// `-32603 internalError` with an incident id (the handler logs the details).
    func handleRequest(method: String, params: JSONValue, connection: RPCConnection) async throws -> JSONValue
    /// Takes one notification; notifications are never answered (spec §4.1).
    func handleNotification(method: String, params: JSONValue, connection: RPCConnection) async
    /// Sees each inbound message in arrival order, before it is served concurrently with others;
    /// for decisions that must follow the wire's order (a worker draining on `shutdown`).
    func received(_ inbound: RPCInbound, connection: RPCConnection)
    /// Called once a request's answer has been queued for the wire (after `handleRequest`).
    func answered(_ inbound: RPCInbound, connection: RPCConnection)
}

extension RPCHandler {
    public func received(_ inbound: RPCInbound, connection: RPCConnection) {}
    public func answered(_ inbound: RPCInbound, connection: RPCConnection) {}
}

/// What a transport does with an inbound line after ``RPCConnection/receive(_:)``.
public enum RPCInbound: Sendable {
    case request(id: RPCID, method: String, params: JSONValue)
    case notification(method: String, params: JSONValue)
    /// A batch (spec §6): its items are answered together, in one array.
    case batch([RPCBatchItem])
}

/// One item of a batch.
public enum RPCBatchItem: Sendable {
    case request(id: RPCID, method: String, params: JSONValue)
    case notification(method: String, params: JSONValue)
    case invalid(RPCDecodeFailure)
    case response
}

/// One JSON-RPC 2.0 peer over a line transport: both sides send requests (DESIGN.md, "Protocol").
///
/// The transport feeds frames to ``receive(_:)`` and runs what it returns with ``serve(_:handler:)``,
/// each in a child task of the connection's task group, so closing the connection cancels them.
/// Responses to our own ``call(_:params:id:)``s are matched by id inside `receive`.
public final class RPCConnection: Sendable {
    /// Identifies the connection in logs and in the worker registry.
    public let id: UInt64
    public let outbound: any RPCOutbound

    private struct State {
        var nextRequestID: Int64 = 1
        var pending: [RPCID: PendingCall] = [:]
        var closed = false
    }

    /// Who waits for the answer to a request we sent: a suspended task, or a closure that takes
    /// the answer where it arrives (``call(_:params:id:onReply:)``), so that a long call keeps no task.
    private enum PendingCall {
        case task(CheckedContinuation<JSONValue, any Error>)
        case callback(@Sendable (Result<JSONValue, any Error>) -> Void)

        func resume(_ result: Result<JSONValue, any Error>) {
            switch self {
            case .task(let continuation): continuation.resume(with: result)
            case .callback(let onReply): onReply(result)
            }
        }
    }

    private let state = Locked(State())
    private static let nextConnectionID = Atomic<UInt64>(1)

    /// Bounds the requests served at once on this connection (nil: unbounded).
    public let requestLimiter: AsyncLimiter?

    private let batchLimits = Locked(BatchLimits())

    /// Items one batch may hold; a larger one is refused whole with `-32010 batchTooLarge`.
    public var maxBatchItems: Int {
        get { batchLimits.withLock { $0.maxItems } }
        set { batchLimits.withLock { $0.maxItems = newValue } }
    }
    /// Largest batch answer; past it the answer is replaced by `-32002 messageTooLarge` as it is
    /// built, so a batch of a million invalid items never allocates its million answers.
    public var maxReplyBytes: Int {
        get { batchLimits.withLock { $0.maxReplyBytes } }
        set { batchLimits.withLock { $0.maxReplyBytes = newValue } }
    }
    /// False until the handshake allows batches; while false a batch is refused with `-32000`.
    public var batchesAllowed: Bool {
        get { batchLimits.withLock { $0.allowed } }
        set { batchLimits.withLock { $0.allowed = newValue } }
    }

    /// When the last frame arrived (``NIODeadline`` uptime nanoseconds): any request,
    /// notification, answer or keep-alive line from the peer.
    private let lastInboundNanos = Atomic<UInt64>(NIODeadline.now().uptimeNanoseconds)

    /// Milliseconds since the peer last sent anything (a frame of any kind, a blank keep-alive
    /// line included); counted from the connection's creation until the first frame. The web
    /// UI's heartbeat age (docs/ui.md).
    public var millisecondsSinceLastInbound: Int64 {
        let last = lastInboundNanos.load(ordering: .relaxed)
        let now = NIODeadline.now().uptimeNanoseconds
        return now > last ? Int64((now - last) / 1_000_000) : 0
    }

    public init(outbound: any RPCOutbound, requestLimiter: AsyncLimiter? = nil) {
        self.id = Self.nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue
        self.outbound = outbound
        self.requestLimiter = requestLimiter
    }

    /// Lets more of the peer's requests run at once: a worker's held workflow steps are long-lived
    /// requests, and while the limit is reached the connection reads nothing — not even answers.
    public func allowConcurrentRequests(_ count: Int) {
        requestLimiter?.raise(to: count)
    }

    /// Reads one inbound frame. Errors the spec asks us to answer (parse errors, invalid
    /// requests, oversized frames) are answered here; responses resolve pending calls.
    /// - Returns: work for the handler, or nil when nothing is left to do.
    public func receive(_ frame: Frame) -> RPCInbound? {
        lastInboundNanos.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
        switch frame {
        case .oversized(let bytes):
            FrameMetrics.rejected(.oversize)
            let error = KeelError(
                .messageTooLarge, "message of \(bytes) bytes exceeds the frame limit; it was discarded",
                data: ["bytes": JSONValue(bytes)])
            send(.error(id: nil, error: RPCErrorObject(error)))
            return nil
        case .line(let buffer):
            if buffer.readableBytes == 0 || buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                return nil  // blank keep-alive lines are ignored
            }
            if let refusal = buffer.withUnsafeReadableBytes({ screenBatch($0) }) {
                FrameMetrics.rejected(.invalid)
                send(.error(id: nil, error: RPCErrorObject(refusal)))
                return nil
            }
            let value: JSONValue
            do {
                value = try buffer.withUnsafeReadableBytes { try JSONParser.parse($0) }
            } catch {
                // An answer to one of our calls that cannot be read (nested past the limit, say)
                // fails that call now; anything else gets the spec's -32700.
                let id = buffer.withUnsafeReadableBytes { ResponseIDScanner.responseID(in: $0) }
                let unreadable = RPCErrorObject(code: -32700, message: "it cannot be read: \(error)")
                if let id, failPending(id, unreadable) { return nil }
                FrameMetrics.rejected(.malformed)
                send(.error(id: nil, error: RPCErrorObject(code: -32700, message: "parse error: \(error)")))
                return nil
            }
            if case .array(let elements) = value {
                guard !elements.isEmpty else {
                    FrameMetrics.rejected(.invalid)
                    send(.error(id: nil, error: RPCErrorObject(code: -32600, message: "an empty batch is invalid")))
                    return nil
                }
                let items = elements.map(batchItem)
                if items.allSatisfy({ if case .response = $0 { true } else { false } }) { return nil }
                return .batch(items)
            }
            switch RPCMessage.decode(value) {
            case .failure(let failure):
                if failure.isResponse, let id = failure.id, failPending(id, failure.error) { return nil }
                if failure.answer {
                    FrameMetrics.rejected(.invalid)
                    send(.error(id: failure.id, error: failure.error))
                }
                return nil
            case .success(let message):
                return route(message)
            }
        }
    }

    /// Fails our pending call `id` because its answer was malformed; false if no call waits on `id`.
    private func failPending(_ id: RPCID, _ error: RPCErrorObject) -> Bool {
        guard let call = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return false }
        call.resume(
            .failure(KeelError(
                .invalidRequest, "the peer's answer is malformed: \(error.message)", data: ["malformedAnswer": true])))
        return true
    }

    /// Refuses a batch before it is parsed: before the handshake allows batches, or with more
    /// items than the limit. Nil when the line is not a batch or may be parsed.
    private func screenBatch(_ bytes: UnsafeRawBufferPointer) -> KeelError? {
        guard BatchScan.isBatch(bytes) else { return nil }
        let limits = batchLimits.withLock { $0 }
        guard limits.allowed else {
            return KeelError(.notInitialized, "batches are not accepted before initialize succeeds; send initialize alone first")
        }
        let count = BatchScan.itemCount(bytes, upTo: limits.maxItems)
        guard count > limits.maxItems else { return nil }
        return KeelError(
            .batchTooLarge, "a batch of more than \(limits.maxItems) items exceeds the limit; none ran",
            data: ["limit": JSONValue(limits.maxItems)])
    }

    private func batchItem(_ value: JSONValue) -> RPCBatchItem {
        switch RPCMessage.decode(value) {
        case .failure(let f): return .invalid(f)
        case .success(let m):
            switch route(m) {
            case .request(let id, let method, let params)?: return .request(id: id, method: method, params: params)
            case .notification(let method, let params)?: return .notification(method: method, params: params)
            default: return .response
            }
        }
    }

    private func route(_ message: RPCMessage) -> RPCInbound? {
        switch message {
        case .request(let id, let method, let params): return .request(id: id, method: method, params: params)
        case .notification(let method, let params): return .notification(method: method, params: params)
        case .response(let id, let result):
            // A response to an unknown id is dropped: the spec allows no answer to a response.
            state.withLock { $0.pending.removeValue(forKey: id) }?.resume(.success(result))
            return nil
        case .error(let id, let error):
            guard let id else { return nil }  // an error about something we sent that it could not read
            state.withLock { $0.pending.removeValue(forKey: id) }?.resume(.failure(error.keelError))
            return nil
        }
    }

    /// Runs inbound work through `handler` and writes the answers.
    /// - Returns: false when the handler deferred its answer (``deferAnswer()``): the request's
    ///   slot is then given back when that answer is sent, not by the caller.
    @discardableResult
    public func serve(_ inbound: RPCInbound, handler: some RPCHandler) async -> Bool {
        switch inbound {
        case .request(let id, let method, let params):
            let slot = AnswerSlot(connection: self, id: id)
            let message = await Self.$currentAnswerSlot.withValue(slot) {
                await answer(id: id, method: method, params: params, handler: handler)
            }
            if !slot.isDeferred { send(message) }
            handler.answered(inbound, connection: self)
            return !slot.isDeferred
        case .notification(let method, let params):
            await handler.handleNotification(method: method, params: params, connection: self)
        case .batch(let items):
            var reply = BatchReply(limit: maxReplyBytes)
            for item in items {
                switch item {
                case .request(let id, let method, let params):
                    reply.append(await answer(id: id, method: method, params: params, handler: handler))
                case .notification(let method, let params):
                    await handler.handleNotification(method: method, params: params, connection: self)
                case .invalid(let failure):
                    if failure.answer { reply.append(.error(id: failure.id, error: failure.error)) }
                case .response:
                    break
                }
            }
            if let line = reply.line() { outbound.write(line) }
        }
        return true
    }

    /// The id of the request being answered, inside ``RPCHandler/handleRequest(method:params:connection:)``
    /// (nil elsewhere): for a handler that keys work by the peer's request id (MCP's cancellation does).
    @TaskLocal public static var currentRequestID: RPCID?

    private func answer(id: RPCID, method: String, params: JSONValue, handler: some RPCHandler) async -> RPCMessage {
        do {
            let result = try await Self.$currentRequestID.withValue(id) {
                try await handler.handleRequest(method: method, params: params, connection: self)
            }
            return .response(id: id, result: result)
        } catch let error as KeelError {
            return .error(id: id, error: RPCErrorObject(error))
        } catch {
            // Handlers wrap what they expect; raw internals never reach the wire.
            return .error(id: id, error: RPCErrorObject(KeelError(.internalError, "internal error")))
        }
    }

    /// Writes one message.
    public func send(_ message: RPCMessage) {
        outbound.write(message.line)
    }

    /// Sends a notification.
    public func notify(_ method: String, params: JSONValue) {
        send(.notification(method: method, params: params))
    }

    /// A fresh id for an outgoing request, for callers that may ``abandon(_:with:)`` it later.
    public func makeRequestID() -> RPCID {
        state.withLock { s in
            defer { s.nextRequestID += 1 }
            return .number(s.nextRequestID)
        }
    }

    /// Sends a request and waits for its answer.
    /// - Throws: `KeelError` with the peer's error code, `.connectionClosed` when the connection
    ///   closes first, or the error given to ``abandon(_:with:)``. Cancelling the task abandons the call.
    public func call(_ method: String, params: JSONValue, id: RPCID? = nil) async throws -> JSONValue {
        let id = id ?? makeRequestID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<JSONValue, any Error>) in
                sendRequest(method, params: params, id: id, awaitedBy: .task(continuation))
            }
        } onCancel: {
            abandon(id, with: CancellationError())
        }
    }

    /// Sends a request; `onReply` gets its answer, or the error ``call(_:params:id:)`` would throw,
    /// on whichever thread it arrives (at once if the connection is closed). Nothing waits
    /// meanwhile, so a call that lasts as long as a workflow run costs its closure, not a task.
    public func call(
        _ method: String, params: JSONValue, id: RPCID? = nil,
        onReply: @escaping @Sendable (Result<JSONValue, any Error>) -> Void
    ) {
        sendRequest(method, params: params, id: id ?? makeRequestID(), awaitedBy: .callback(onReply))
    }

    private func sendRequest(_ method: String, params: JSONValue, id: RPCID, awaitedBy call: PendingCall) {
        let accepted = state.withLock { s -> Bool in
            if s.closed { return false }
            s.pending[id] = call
            return true
        }
        guard accepted else {
            call.resume(.failure(KeelError(.connectionClosed, "the connection is closed")))
            return
        }
        send(.request(id: id, method: method, params: params))
    }

    /// Stops waiting for the answer to request `id`; a late answer is then dropped.
    public func abandon(_ id: RPCID, with error: any Error) {
        state.withLock { $0.pending.removeValue(forKey: id) }?.resume(.failure(error))
    }

    /// Marks the connection closed and fails every pending call. Idempotent.
    public func closed() {
        let pending = state.withLock { s -> [PendingCall] in
            s.closed = true
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        for call in pending { call.resume(.failure(KeelError(.connectionClosed, "the connection closed"))) }
    }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Closes the transport.
    public func close() {
        outbound.close()
        closed()
    }
}
