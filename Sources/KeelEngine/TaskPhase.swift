import KeelProtocol

/// Where one live task of this node is in its dispatch, as a state machine (docs/architecture.md,
/// "Decisions as state machines"). The engine asks for each transition and acts only when it is
/// granted: an answer from a connection the attempt is not on, a second end of one attempt, a
/// start of an attempt that runs — each is refused and changes nothing. `TaskPhaseTests` drive it
/// on its own.
///
/// ```
///      ready ──start──▶ running ──answered / stop──▶ ending
///        │                                           ▲
///        └────────────────── abandon ────────────────┘
/// ```
///
/// A task is live here only while this node holds its attempt in the store (a claim, or a task
/// stored claimed). `ending` has no way out: the attempt's end or retry is being committed, and
/// the engine drops the task from memory once it is (a retried task goes back to the store,
/// claimable by any node after its backoff).
struct TaskPhase: Equatable {
    enum State: Equatable {
        /// Claimed by this node, its attempt about to go to a worker.
        case ready
        /// The current attempt is on worker `connectionID` as request `requestID`.
        case running(connectionID: UInt64, requestID: RPCID)
        /// The attempt is over and its outcome is being committed; late answers are dropped.
        case ending
    }

    private(set) var state: State

    init(_ state: State) { self.state = state }

    /// A task whose attempt is about to start.
    static let ready = TaskPhase(.ready)

    var isRunning: Bool {
        if case .running = state { true } else { false }
    }

    /// The connection and request of the running attempt, if one runs.
    var runningOn: (connectionID: UInt64, requestID: RPCID)? {
        if case .running(let c, let r) = state { (c, r) } else { nil }
    }

    /// An attempt goes out to worker `connectionID` as `requestID`: only a ready task starts.
    mutating func start(on connectionID: UInt64, request requestID: RPCID) -> Bool {
        guard state == .ready else { return false }
        state = .running(connectionID: connectionID, requestID: requestID)
        return true
    }

    /// The worker on `connectionID` answered the running attempt: it ends, unless the attempt is
    /// no longer running there (it timed out, was cancelled, or runs elsewhere): then the answer
    /// is late and counts for nothing.
    mutating func answered(on connectionID: UInt64) -> Bool {
        guard case .running(let runningOn, _) = state, runningOn == connectionID else { return false }
        state = .ending
        return true
    }

    /// The running attempt is stopped without its answer (a timeout, a cancel): it ends, and the
    /// engine detaches it from the worker it runs on, returned here. Nil when none runs.
    mutating func stop() -> (connectionID: UInt64, requestID: RPCID)? {
        guard let running = runningOn else { return nil }
        state = .ending
        return running
    }

    /// A ready task that will not start here ends (its worker left before the attempt began).
    mutating func abandon() -> Bool {
        guard state == .ready else { return false }
        state = .ending
        return true
    }
}
