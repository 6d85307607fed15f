/// Unguessable tokens for dispatched attempts and workflow runs (docs/security.md).
enum AttemptToken {
    /// 128 random bits from the system's CSPRNG (getrandom on Linux), as 32 hex digits.
    static func make() -> String {
        var rng = SystemRandomNumberGenerator()
        let high = rng.next() as UInt64, low = rng.next() as UInt64
        return hex(high) + hex(low)
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// True when the request's echoed token (if any) matches `expected`. Workers that do not echo
    /// the token are still bound to the connection the attempt was sent to.
    static func matches(_ echoed: String?, _ expected: String) -> Bool {
        guard let echoed else { return true }
        return constantTimeEqual(echoed, expected)
    }
}
