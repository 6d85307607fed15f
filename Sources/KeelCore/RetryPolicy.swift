/// How a failed activity is retried, in Temporal's vocabulary (DESIGN.md, "Activities").
///
/// The delay before attempt `n + 1` is `initialInterval * backoffCoefficient^(n - 1)`, capped at
/// `maximumInterval`. `maximumAttempts == 0` means unlimited.
public struct RetryPolicy: Sendable, Hashable {
    public var initialIntervalMs: Int64 = 1000
    public var backoffCoefficient: Double = 2.0
    public var maximumIntervalMs: Int64 = 100_000
    public var maximumAttempts: Int = 0
    public var nonRetryableErrorTypes: [String] = []

    public init() {}

    /// Milliseconds to wait after failed attempt `attempt` (1-based).
    public func delay(afterAttempt attempt: Int) -> Int64 {
        let exponent = Double(max(0, attempt - 1))
        let raw = Double(initialIntervalMs) * pow(backoffCoefficient, exponent)
        return Int64(min(raw, Double(maximumIntervalMs)))
    }

    /// True when another attempt is allowed after `attempt` attempts have been made.
    public func allowsAttempt(after attempt: Int) -> Bool {
        maximumAttempts <= 0 || attempt < maximumAttempts
    }
}

/// Activity timeouts (DESIGN.md, "Activities"); nil means none.
public struct ActivityTimeouts: Sendable, Hashable {
    /// From scheduling until a worker takes the task.
    public var scheduleToStartMs: Int64?
    /// One attempt's run time.
    public var startToCloseMs: Int64?
    /// The whole task, all attempts and waits included.
    public var scheduleToCloseMs: Int64?
    /// Longest silence between heartbeats of a running attempt (the heartbeat timeout); on the
    /// wire `timeouts.heartbeatTimeoutMs` (deprecated alias `heartbeatMs`) and `activity/execute`'s
    /// `heartbeatTimeoutMs`.
    public var heartbeatMs: Int64?

    /// The wire name of ``heartbeatMs`` in a `timeouts` object.
    public static let heartbeatTimeoutKey = "heartbeatTimeoutMs"
    /// The deprecated wire name of ``heartbeatMs``, still accepted.
    public static let deprecatedHeartbeatKey = "heartbeatMs"

    public init(
        scheduleToStartMs: Int64? = nil, startToCloseMs: Int64? = nil, scheduleToCloseMs: Int64? = nil,
        heartbeatMs: Int64? = nil
    ) {
        self.scheduleToStartMs = scheduleToStartMs
        self.startToCloseMs = startToCloseMs
        self.scheduleToCloseMs = scheduleToCloseMs
        self.heartbeatMs = heartbeatMs
    }

    /// Default start-to-close when neither the call nor the contract sets one (Temporal requires
    /// one of the two; we pick a generous default instead of refusing the call).
    public static let defaultStartToCloseMs: Int64 = 5 * 60 * 1000
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var e = Int(exponent)
    var b = base
    while e > 0 {
        if e & 1 == 1 { result *= b }
        b *= b
        e >>= 1
    }
    return result
}

extension RetryPolicy {
    /// Reads a policy object from the wire, starting from `base` for absent fields.
    /// - Throws: `KeelError(.invalidParams)` naming the field.
    public static func decode(_ value: JSONValue?, base: RetryPolicy = RetryPolicy(), field: String) throws -> RetryPolicy {
        guard let value, !value.isNull else { return base }
        guard case .object(let o) = value else { throw KeelError(.invalidParams, "\(field) must be an object") }
        var p = base
        if let v = o["initialIntervalMs"], !v.isNull { p.initialIntervalMs = try v.positiveMillis("\(field).initialIntervalMs") }
        if let v = o["maximumIntervalMs"], !v.isNull { p.maximumIntervalMs = try v.positiveMillis("\(field).maximumIntervalMs") }
        if let v = o["backoffCoefficient"], !v.isNull {
            guard let d = v.doubleValue, d >= 1, d.isFinite else {
                throw KeelError(.invalidParams, "\(field).backoffCoefficient must be a number ≥ 1")
            }
            p.backoffCoefficient = d
        }
        if let v = o["maximumAttempts"], !v.isNull {
            guard let n = v.int64Value, n >= 0, n <= 1_000_000 else {
                throw KeelError(.invalidParams, "\(field).maximumAttempts must be an integer from 0 (unlimited) to 1000000")
            }
            p.maximumAttempts = Int(n)
        }
        if let v = o["nonRetryableErrorTypes"], !v.isNull {
            guard let a = v.arrayValue, let types = Optional(a.compactMap(\.stringValue)), types.count == a.count else {
                throw KeelError(.invalidParams, "\(field).nonRetryableErrorTypes must be an array of strings")
            }
            p.nonRetryableErrorTypes = types
        }
        return p
    }

    public var json: JSONValue {
        [
            "initialIntervalMs": JSONValue(initialIntervalMs), "backoffCoefficient": JSONValue(backoffCoefficient),
            "maximumIntervalMs": JSONValue(maximumIntervalMs), "maximumAttempts": JSONValue(maximumAttempts),
            "nonRetryableErrorTypes": .array(nonRetryableErrorTypes.map { .string($0) }),
        ]
    }
}

extension ActivityTimeouts {
    /// Reads timeouts from the wire, starting from `base` for absent fields.
    public static func decode(_ value: JSONValue?, base: ActivityTimeouts = ActivityTimeouts(), field: String) throws
        -> ActivityTimeouts
    {
        guard let value, !value.isNull else { return base }
        guard case .object(let o) = value else { throw KeelError(.invalidParams, "\(field) must be an object") }
        var t = base
        func read(_ key: String) throws -> Int64?? {
            guard let v = o[key] else { return .none }
            if v.isNull { return .some(nil) }
            return .some(try v.positiveMillis("\(field).\(key)"))
        }
        if let v = try read("scheduleToStartMs") { t.scheduleToStartMs = v }
        if let v = try read("startToCloseMs") { t.startToCloseMs = v }
        if let v = try read("scheduleToCloseMs") { t.scheduleToCloseMs = v }
        // One name for the heartbeat timeout on the wire: `heartbeatTimeoutMs`, as in
        // `activity/execute`. `heartbeatMs` is its deprecated alias, still read (stored tasks and
        // older clients send it); both at once must agree (issue 13).
        let current = try read(Self.heartbeatTimeoutKey), deprecated = try read(Self.deprecatedHeartbeatKey)
        if case .some(.some(let a)) = current, case .some(.some(let b)) = deprecated, a != b {
            throw KeelError(
                .invalidParams,
                "\(field).\(Self.heartbeatTimeoutKey) and its deprecated alias \(field).\(Self.deprecatedHeartbeatKey) differ; send only \(Self.heartbeatTimeoutKey)",
                data: ["field": .string("\(field).\(Self.deprecatedHeartbeatKey)")])
        }
        // A null beside a value is "not set" and loses to the value.
        if let v = (current ?? nil) ?? (deprecated ?? nil) {
            t.heartbeatMs = v
        } else if current != nil || deprecated != nil {
            t.heartbeatMs = nil
        }
        return t
    }

    public var json: JSONValue {
        func j(_ v: Int64?) -> JSONValue { v.map { JSONValue($0) } ?? .null }
        return [
            "scheduleToStartMs": j(scheduleToStartMs), "startToCloseMs": j(startToCloseMs),
            "scheduleToCloseMs": j(scheduleToCloseMs), Self.heartbeatTimeoutKey: j(heartbeatMs),
        ]
    }
}

extension JSONValue {
    func positiveMillis(_ field: String) throws -> Int64 {
        guard let n = int64Value, n > 0, n <= 10 * 365 * 86_400_000 else {
            throw KeelError(.invalidParams, "\(field) must be a positive integer number of milliseconds (at most 10 years)")
        }
        return n
    }
}
