import KeelCore
import Synchronization

/// Decides whether a new listener connection may be served: the global and per-peer connection
/// caps, and the per-peer throttle on failed token checks (issue 10, item 4). Shared by every
/// listener; safe from any thread.
final class Admission: Sendable {
    /// Why a connection was refused: the error to write before closing it.
    typealias Refusal = KeelError

    private struct State {
        var open = 0
        var perPeer: [String: Int] = [:]
        /// Times (epoch ms) of recent failed token checks, per peer address.
        var failures: [String: [EpochMillis]] = [:]
    }

    /// The window over which failed token checks are counted.
    static let failureWindowMs: EpochMillis = 60_000

    private let state = Locked(State())
    let maxConnections: Int
    let limits: ConnectionLimits
    private let clock: any WallClock

    /// - Parameter maxConnections: the global cap in force (the configured one, lowered to fit
    ///   the file-descriptor limit).
    init(limits: ConnectionLimits, maxConnections: Int, clock: any WallClock) {
        self.limits = limits
        self.maxConnections = maxConnections
        self.clock = clock
    }

    /// Takes a slot for a new connection from `peer` (nil for Unix-socket peers, which have no
    /// address). On success the caller must ``release(peer:)`` once the connection ends.
    /// - Returns: nil when admitted, else the refusal to send.
    func admit(peer: String?) -> Refusal? {
        let now = clock.now()
        return state.withLock { s -> Refusal? in
            if let peer, let retry = Self.retryAfter(s.failures[peer] ?? [], now: now, limit: limits.maxAuthFailuresPerMinute) {
                return KeelError(
                    .tooManyAuthFailures, "too many failed token checks from this address; retry in \(retry) ms",
                    data: ["retryAfterMs": JSONValue(retry)])
            }
            guard s.open < maxConnections else {
                return KeelError(
                    .tooManyConnections, "the orchestrator has \(maxConnections) connections open, its limit; retry later",
                    data: ["limit": JSONValue(maxConnections), "scope": "global"])
            }
            if let peer {
                guard s.perPeer[peer, default: 0] < limits.maxConnectionsPerPeer else {
                    return KeelError(
                        .tooManyConnections,
                        "this address has \(limits.maxConnectionsPerPeer) connections open, its limit; close some or retry later",
                        data: ["limit": JSONValue(limits.maxConnectionsPerPeer), "scope": "peer"])
                }
                s.perPeer[peer, default: 0] += 1
            }
            s.open += 1
            return nil
        }
    }

    /// Gives back the slot taken by ``admit(peer:)``.
    func release(peer: String?) {
        state.withLock { s in
            s.open -= 1
            if let peer {
                let left = s.perPeer[peer, default: 1] - 1
                s.perPeer[peer] = left > 0 ? left : nil
            }
        }
    }

    /// Records a failed token check from `peer`.
    func recordAuthFailure(peer: String?) {
        guard let peer else { return }
        let now = clock.now()
        state.withLock { s in
            var recent = (s.failures[peer] ?? []).filter { $0 > now - Self.failureWindowMs }
            recent.append(now)
            s.failures[peer] = recent
            // Forget addresses whose failures have all aged out, so the table stays small.
            if s.failures.count > 4096 {
                s.failures = s.failures.filter { $0.value.contains { $0 > now - Self.failureWindowMs } }
            }
        }
    }

    /// Milliseconds until `peer` may try again, when it made `limit` failures within the window.
    private static func retryAfter(_ failures: [EpochMillis], now: EpochMillis, limit: Int) -> EpochMillis? {
        let recent = failures.filter { $0 > now - failureWindowMs }
        guard recent.count >= limit, let oldest = recent.min() else { return nil }
        return max(1, oldest + failureWindowMs - now)
    }
}
