import KeelCore

/// Runs an operation with a deadline.
enum Deadline {
    /// The result of `body`, or `KeelError(.timeout)` naming `what` once `timeout` passed.
    static func run<T: Sendable>(
        _ timeout: Duration, what: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            if let first = try await group.next(), let value = first { return value }
            throw KeelError(.requestTimedOut, "\(what) did not come within \(timeout)")
        }
    }
}
