import Glibc
import KeelCore
import KeelProtocol
import NIOCore

/// The worker processes a ``WorkerSupervisor`` runs, and how far its stop got.
///
/// A stop has two phases, so that no worker is restarted while the engine drains and none
/// escapes the close that follows: ``stopRestarting()`` (no process is started from then on),
/// then ``closeAll()`` (every worker's stdin closes; one whose pipes are registered later is
/// closed at once). Before this, a worker that was being restarted when the stop came was never
/// closed, and the orchestrator waited for it forever.
final class SupervisedWorkers: Sendable {
    private struct State {
        var restarting = true
        var closing = false
        /// Each running worker's stdio channel, and its connection once the session is set up.
        var channels: [pid_t: any Channel] = [:]
        var connections: [pid_t: RPCConnection] = [:]
    }

    private let state = Locked(State())

    /// False once the stop began: a worker that exits now stays stopped.
    var mayStart: Bool { state.withLock { $0.restarting } }

    /// First phase of a stop: no worker is started or restarted from now on.
    func stopRestarting() { state.withLock { $0.restarting = false } }

    /// Records a started worker's stdio channel; closes it at once when ``closeAll()`` already ran.
    func add(_ pid: pid_t, channel: any Channel) {
        let late = state.withLock { s -> Bool in
            if s.closing { return true }
            s.channels[pid] = channel
            return false
        }
        if late { channel.close(promise: nil) }
    }

    /// Records the connection served on a worker's channel; closes it at once when ``closeAll()`` already ran.
    func attach(_ pid: pid_t, connection: RPCConnection) {
        let late = state.withLock { s -> Bool in
            if s.closing { return true }
            s.connections[pid] = connection
            return false
        }
        if late { connection.close() }
    }

    /// Forgets a worker whose process is gone.
    func remove(_ pid: pid_t) {
        state.withLock { s in
            s.channels[pid] = nil
            s.connections[pid] = nil
        }
    }

    /// Second phase of a stop: closes every worker's connection (its stdin reaches EOF after the
    /// messages already queued, such as `shutdown`), or its bare channel when no session is set up yet.
    func closeAll() {
        let (channels, connections) = state.withLock { s -> ([pid_t: any Channel], [pid_t: RPCConnection]) in
            s.restarting = false
            s.closing = true
            return (s.channels, s.connections)
        }
        for (pid, channel) in channels {
            if let connection = connections[pid] { connection.close() } else { channel.close(promise: nil) }
        }
    }
}
