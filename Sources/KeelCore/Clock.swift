/// Milliseconds since the Unix epoch: the one time unit in storage and on the wire.
public typealias EpochMillis = Int64

/// The source of "now" for timers, leases and deadlines, injectable so tests can run a 30-day
/// sleep in milliseconds.
public protocol WallClock: Sendable {
    /// The current time in milliseconds since the Unix epoch.
    func now() -> EpochMillis
}
