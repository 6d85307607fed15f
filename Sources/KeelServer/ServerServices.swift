import KeelEngine
import KeelProtocol
import Logging
public import ServiceLifecycle

// The orchestrator's long-lived parts, each a `Service` of one `ServiceGroup` (KeelServer.start()).
// The group starts them together and stops them one at a time in reverse order of the list, so
// the list reads as a stop sequence from the bottom up: the engine drains first, then the timers
// stop, the listeners close, the workers stop, and last the store closes.

/// A part of the server, named for the group's logs and for ``KeelServer/start()``'s callers.
protocol ServerPart: Service {
    var name: String { get }
}

/// The engine's dispatch and work loops; on a graceful shutdown it drains: it stops taking work,
/// answers held steps with suspend and waits (bounded) for running attempts, while the listeners
/// and timers later in the stop sequence still run.
struct EngineService: ServerPart {
    var name: String { "engine" }
    let engine: Engine
    /// Runs when the drain begins, before anything else stops (the supervisor stops restarting).
    let willDrain: @Sendable () -> Void

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await engine.runWork() }
            group.addTask {
                do {
                    try await gracefulShutdown()
                } catch {
                    return  // cancelled: `runWork` is cancelled too, and nothing drains
                }
                willDrain()
                await engine.shutdown()
            }
        }
    }
}

/// The engine's timer loop and periodic checks: every timeout, backoff, sleep and hold.
struct TimerService: ServerPart {
    var name: String { "timers" }
    let engine: Engine

    func run() async {
        // Ends on the group's graceful shutdown (after the engine drained) or its cancellation;
        // either way `runTimers` is cancelled, which is how it ends.
        await cancelWhenGracefulShutdown { await engine.runTimers() }
    }
}

/// One listener (the Unix socket, TCP, the metrics endpoint, a sidecar such as the web UI): it
/// serves until it is closed, and is closed on the group's graceful shutdown. One that stops on
/// its own is logged, and its end stops the server (nothing would serve that address any more).
struct ListenerService: ServerPart {
    let name: String
    let logger: Logger
    let serve: @Sendable () async -> Void
    let close: @Sendable () -> Void
    /// Runs once the listener stopped serving (the Unix socket's path is removed).
    var closed: @Sendable () -> Void = {}

    func run() async {
        let closing = OneShotSignal()
        await withDiscardingTaskGroup { group in
            group.addTask {
                do { try await gracefulShutdown() } catch {}  // cancelled: close as well
                closing.fire()
                close()
            }
            await serve()
            if !closing.isFired {
                logger.error("a listener stopped on its own; the server stops", metadata: ["listener": "\(name)"])
            }
            group.cancelAll()
        }
        closed()
    }
}

/// The workers `keel serve --worker` spawned: each is restarted when it exits, until the stop
/// begins (``EngineService/willDrain``); on the group's graceful shutdown every one is stopped.
struct WorkerSupervisorService: ServerPart {
    var name: String { "worker supervisor" }
    let supervisor: WorkerSupervisor
    let specs: [WorkerSpec]

    func run() async {
        await withDiscardingTaskGroup { group in
            for spec in specs { group.addTask { await supervisor.supervise(spec) } }
            // Lasts until the group stops, with no worker to supervise too; cancelled, it stops at once.
            do { try await gracefulShutdown() } catch {}
            supervisor.stopRestarting()
            supervisor.stop()
        }
    }
}

/// Returns the heap's free memory to the system now and then (HeapTrim.swift), until the group stops.
struct HeapTrimService: ServerPart {
    var name: String { "heap trim" }
    let engine: Engine

    func run() async {
        let stop = OneShotSignal()
        await withDiscardingTaskGroup { group in
            group.addTask { await HeapTrim.run(until: stop) { await engine.compactTables() } }
            do { try await gracefulShutdown() } catch {}  // cancelled: stop as well
            stop.fire()
        }
    }
}

/// Holds the store open while the other parts run; last in the stop sequence it cuts the
/// connections still open and closes the store. Unfinished work stays in the store.
struct StoreService: ServerPart {
    var name: String { "store" }
    let engine: Engine
    let close: @Sendable () async -> Void

    func run() async {
        do { try await gracefulShutdown() } catch {}  // cancelled: the store closes the same way
        await engine.closeAllSessions()
        await close()
    }
}

/// Ends when someone asks the server to stop (``KeelServer/stop()``, a client's `shutdown`), and
/// so starts the group's graceful shutdown.
struct StopRequestService: ServerPart {
    var name: String { "stop request" }
    let signal: OneShotSignal

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                do { try await gracefulShutdown() } catch {}  // the group stops for another reason
                signal.fire()
            }
            await signal.wait()
            group.cancelAll()
        }
    }
}
