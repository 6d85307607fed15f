public import KeelCore
import Synchronization

/// The answer to a request, sent later than the handler returned: a handler that would wait a
/// long time (a `workflow/result` for an execution that runs for minutes) takes one with
/// ``RPCConnection/deferAnswer()`` and returns at once, so that no task, and none of the async
/// frames on its way, is kept for the wait — about 12 KB per waiting request
/// (docs/performance.md, "Waiting requests").
///
/// The connection's request slot (``RPCChannel/Limits/maxConcurrentRequests``) stays taken until
/// the answer is sent, as it would while the request's task waited. The first of ``send(_:)`` and
/// ``fail(_:)`` answers; later calls do nothing.
public final class DeferredAnswer: Sendable {
    private let connection: RPCConnection
    private let id: RPCID
    private let answered = Atomic<Bool>(false)

    init(connection: RPCConnection, id: RPCID) {
        self.connection = connection
        self.id = id
    }

    /// The id of the connection the answer goes to (``RPCConnection/id``).
    public var connectionID: UInt64 { connection.id }

    /// Answers with `result`.
    public func send(_ result: JSONValue) {
        answer(.response(id: id, result: result))
    }

    /// Answers with `error` (callers map unknown errors to coded ones first, as handlers do).
    public func fail(_ error: KeelError) {
        answer(.error(id: id, error: RPCErrorObject(error)))
    }

    private func answer(_ message: RPCMessage) {
        guard !answered.exchange(true, ordering: .acquiringAndReleasing) else { return }
        connection.send(message)
        connection.requestLimiter?.release()
    }
}

/// What ``RPCConnection/serve(_:handler:)`` lends a request's handler, through a task local, to
/// defer its answer with. Only a request outside a batch gets one: a batch's answer is one line.
final class AnswerSlot: Sendable {
    let connection: RPCConnection
    let id: RPCID
    private let taken = Atomic<Bool>(false)

    init(connection: RPCConnection, id: RPCID) {
        self.connection = connection
        self.id = id
    }

    /// True once the handler deferred its answer.
    var isDeferred: Bool { taken.load(ordering: .acquiring) }

    /// The deferred answer; nil when it was taken already.
    func take() -> DeferredAnswer? {
        guard !taken.exchange(true, ordering: .acquiringAndReleasing) else { return nil }
        return DeferredAnswer(connection: connection, id: id)
    }
}

extension RPCConnection {
    @TaskLocal static var currentAnswerSlot: AnswerSlot?

    /// Takes over the answer to the request being served, when it can be deferred (a request
    /// outside a batch, served by ``serve(_:handler:)``); nil otherwise. Once taken, what the
    /// handler returns or throws is not sent: the answer is what the ``DeferredAnswer`` sends.
    /// Call it from the request's own task, not from a task it started.
    public static func deferAnswer() -> DeferredAnswer? {
        currentAnswerSlot?.take()
    }

    /// Whether ``deferAnswer()`` would answer a deferred answer now (it is not taken by this).
    public static var canDeferAnswer: Bool {
        currentAnswerSlot.map { !$0.isDeferred } ?? false
    }
}
