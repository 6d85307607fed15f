import Foundation
import NIOCore
import NIOPosix

/// Runs Swift concurrency of `keel serve` on NIO's event loops, the threads the connections read
/// and write on, instead of Swift's own pool, when asked (`--concurrency-on-event-loops`, or
/// `KEEL_NIO_EXECUTOR=1` for `serve` and `dev`). A request read on a loop is then parsed, decided
/// by the engine and answered on that loop; only the store's writer and readers are other threads.
/// It cuts the thread crossings per call by 2.6× and the tail latency of a busy machine, and costs
/// some throughput on an idle one (docs/performance.md, "Thread crossings"); it is off by default.
///
/// NIO's hook must go in before anything runs on the pool, so it is installed at the top of
/// `main`, from the command line as it stands (the parser runs later), with the loop count of
/// `--event-loops N` (default 1).
enum EventLoopExecutor {
    /// The flag of `keel serve` that turns it on.
    static let flag = "--concurrency-on-event-loops"

    /// The loop count this process set for NIO's shared group; nil until ``install(arguments:environment:)`` did.
    nonisolated(unsafe) private(set) static var installedLoopCount: Int?

    /// Installs the hook when `serve` or `dev` asks for it; nothing otherwise.
    static func install(arguments: [String], environment: [String: String]) {
        guard let command = arguments.dropFirst().first, command == "serve" || command == "dev" else { return }
        let asked = (command == "serve" && arguments.contains(flag)) || environment["KEEL_NIO_EXECUTOR"] == "1"
        guard asked else { return }
        let count = command == "serve" ? eventLoopCount(arguments) ?? 1 : 1
        guard (1...64).contains(count) else { return }  // the parser refuses it with its message
        NIOSingletons.groupLoopCountSuggestion = count
        installedLoopCount = count
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// The value of `--event-loops N` or `--event-loops=N`, if given and a number.
    static func eventLoopCount(_ arguments: [String]) -> Int? {
        for (i, argument) in arguments.enumerated() {
            if argument == "--event-loops", i + 1 < arguments.count { return Int(arguments[i + 1]) }
            if argument.hasPrefix("--event-loops=") { return Int(argument.dropFirst("--event-loops=".count)) }
        }
        return nil
    }
}
