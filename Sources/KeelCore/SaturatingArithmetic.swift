/// Arithmetic on values that came from outside (durations, timeouts, retry hints): it clamps at
/// the bounds instead of trapping, so a hostile `durationMs: 9223372036854775807` means "never"
/// rather than a crash (issue 10, item 1).
extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max`.
    public func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }
}
