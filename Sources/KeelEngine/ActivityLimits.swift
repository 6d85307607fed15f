public import KeelCore

/// Limits on one activity across all workers, to protect a rate-limited service such as an LLM API.
public struct ActivityLimit: Sendable, Equatable {
    /// Attempts running at once, across every worker.
    public var maxConcurrent: Int?
    /// Attempts started per minute (a token bucket holding one second's worth, at least one).
    public var ratePerMinute: Double?

    public init(maxConcurrent: Int? = nil, ratePerMinute: Double? = nil) {
        self.maxConcurrent = maxConcurrent
        self.ratePerMinute = ratePerMinute
    }
}

/// Per-activity running counts and token buckets. Pure state: the engine owns one.
struct ActivityLimiter {
    var limits: [String: ActivityLimit] = [:]
    private var running: [String: Int] = [:]
    private var buckets: [String: (tokens: Double, at: EpochMillis)] = [:]

    /// When `name` may start an attempt now: nil if yes (and the start is counted), else the
    /// time to try again (or `.max` when only a running attempt's end can free a place).
    mutating func tryStart(_ name: String, now: EpochMillis) -> EpochMillis? {
        guard let limit = limits[name] else {
            running[name, default: 0] += 1
            return nil
        }
        if let max = limit.maxConcurrent, running[name, default: 0] >= max { return .max }
        if let rate = limit.ratePerMinute, rate > 0, rate.isFinite {
            let capacity = Swift.max(1, rate / 60)
            var bucket = buckets[name] ?? (capacity, now)
            bucket.tokens = Swift.min(capacity, bucket.tokens + Double(now - bucket.at) * rate / 60_000)
            bucket.at = now
            guard bucket.tokens >= 1 else {
                buckets[name] = bucket
                // A tiny rate (1e-300 per minute) makes this wait astronomically long: clamp, never trap.
                let wait = ((1 - bucket.tokens) * 60_000 / rate).rounded(.up)
                return now.addingSaturating(wait.isFinite && wait < 9e18 ? EpochMillis(wait) : .max)
            }
            bucket.tokens -= 1
            buckets[name] = bucket
        }
        running[name, default: 0] += 1
        return nil
    }

    mutating func finished(_ name: String) {
        running[name, default: 1] -= 1
    }
}
