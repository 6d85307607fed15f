/// Format checks (temporary: filled in by a later change).
enum Formats {
    static let table: [String: @Sendable (String) -> Bool] = [:]
}
