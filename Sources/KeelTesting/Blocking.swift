import Foundation

/// Runs `body`, which blocks (waits for a child process, reads a pipe to its end), on a thread of
/// its own and awaits its result. Blocking inside a test's task would hold one of the few
/// cooperative threads (two on a 2-core CI machine) for as long as a CLI command runs, and starve
/// every other test running in parallel until their time limits fail them.
public func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = "keel-test-blocking"
        thread.start()
    }
}
