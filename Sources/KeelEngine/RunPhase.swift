import KeelProtocol

/// Where one live execution of this node is between its runs, as a state machine (docs/
/// architecture.md, "Decisions as state machines"), as ``TaskPhase`` is for a task. The engine
/// asks for each transition and acts only when it is granted: a run started for an execution that
/// is not queued, an answer from a connection the run is not on, a stop of an execution with no
/// run — each is refused and changes nothing. `RunPhaseTests` drive it on its own.
///
/// ```
///   pending ──start──▶ running ──returned / stop──▶ ending ──requeue──▶ pending
///      │                  │                          ▲
///      └──────────────────┴───────── close ──────────┘
///   any ──park──▶ parked
/// ```
///
/// An execution is in a node's memory only while the node holds it in the store; one that is
/// suspended or parked is in the store alone (`parked` is the moment between its commit and its
/// leaving memory). `ending` is every moment a commit decides what comes next — the run's end,
/// its suspension, a continue-as-new, a terminate, a reset — and is left by `requeue` when a run
/// is to come, or by the execution leaving memory.
struct RunPhase: Equatable {
    enum State: Equatable {
        /// Queued for a run (or about to be).
        case pending
        /// A run is on worker `connectionID` as request `requestID`.
        case running(connectionID: UInt64, requestID: RPCID)
        /// No run goes on, and a commit decides what comes next; late answers are dropped.
        case ending
        /// Parked in the store; it leaves memory.
        case parked
    }

    private(set) var state: State

    init(_ state: State) { self.state = state }

    /// An execution queued for a run.
    static let pending = RunPhase(.pending)

    var isPending: Bool { state == .pending }
    var isEnding: Bool { state == .ending }
    var isParked: Bool { state == .parked }

    var isRunning: Bool {
        if case .running = state { true } else { false }
    }

    /// The connection and request of the run under way, if one is.
    var runningOn: (connectionID: UInt64, requestID: RPCID)? {
        if case .running(let c, let r) = state { (c, r) } else { nil }
    }

    /// A run goes out to worker `connectionID` as `requestID`: only a queued execution starts one.
    mutating func start(on connectionID: UInt64, request requestID: RPCID) -> Bool {
        guard state == .pending else { return false }
        state = .running(connectionID: connectionID, requestID: requestID)
        return true
    }

    /// The run on `connectionID` is over (its answer came, its worker left, or its start did not
    /// commit): it ends, unless no run is under way there (it was stopped, or runs elsewhere):
    /// then what arrived is late and counts for nothing.
    mutating func returned(on connectionID: UInt64) -> Bool {
        guard case .running(let runningOn, _) = state, runningOn == connectionID else { return false }
        state = .ending
        return true
    }

    /// The run under way is stopped without its answer (a terminate, a deadline): it ends, and the
    /// engine detaches it from the worker it runs on, returned here. Nil when none runs.
    mutating func stop() -> (connectionID: UInt64, requestID: RPCID)? {
        guard let running = runningOn else { return nil }
        state = .ending
        return running
    }

    /// A commit that decides the execution's future begins whatever its phase (its end, a reset):
    /// no run may start meanwhile. Returns the run it detached, if one was under way.
    mutating func close() -> (connectionID: UInt64, requestID: RPCID)? {
        let running = runningOn
        state = .ending
        return running
    }

    /// The execution is to run (again): queued, whatever its phase.
    mutating func requeue() { state = .pending }

    /// The execution was parked in the store: it takes no run until it is resumed.
    mutating func park() { state = .parked }
}
