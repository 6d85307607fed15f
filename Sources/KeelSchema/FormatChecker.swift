/// A `format` check, applied to strings only (other types pass, as the specification says).
struct FormatChecker: Sendable {
    let check: @Sendable (String) -> Bool

    /// The checker for a format name, or nil for a format this validator does not know (which
    /// then passes, as unknown formats must).
    static func named(_ name: String) -> FormatChecker? {
        guard let f = Formats.table[name] else { return nil }
        return FormatChecker(check: f)
    }
}
