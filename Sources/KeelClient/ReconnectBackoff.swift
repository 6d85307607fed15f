/// Full-jitter exponential backoff for reconnecting to a restarted orchestrator
/// (docs/clients.md "Reconnecting"): wait `uniform(0, min(max, initial × 2^n))`, where n counts
/// the failed attempts since the last ``reset()`` (call it after a successful `initialize`).
public struct ReconnectBackoff: Sendable {
    /// The first wait's bound: a restarted `keel serve` binds its socket in well under a second.
    public static let defaultInitial: Duration = .milliseconds(100)
    /// The cap on one wait: a worker is back at most ~2 s after Keel is (a 5–10 s cap kept it away
    /// for seconds after Keel was back).
    public static let defaultMax: Duration = .seconds(2)

    public let initial: Duration
    public let max: Duration
    private var failures = 0

    /// - Parameters:
    ///   - initial: the first wait's bound (at least 1 ms).
    ///   - max: the cap on every wait (at least `initial`).
    public init(initial: Duration = defaultInitial, max: Duration = defaultMax) {
        self.initial = Swift.max(initial, .milliseconds(1))
        self.max = Swift.max(max, self.initial)
    }

    /// Starts over from ``initial``: the last attempt succeeded.
    public mutating func reset() { failures = 0 }

    /// The next wait; counts one more failed attempt.
    public mutating func next() -> Duration {
        let cap = Self.milliseconds(max)
        var bound = Self.milliseconds(initial)
        for _ in 0..<failures where bound < cap { bound *= 2 }  // no overflow: cap is at most 10^12
        bound = Swift.min(bound, cap)
        failures += 1
        return .milliseconds(Int64.random(in: 0...bound))
    }

    private static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        return Swift.min(seconds, 1_000_000_000) * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
