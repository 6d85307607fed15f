import Foundation
import NIOCore
import NIOPosix

/// Where `keel serve` and `keel dev` run Swift concurrency: on NIO's event loops, the threads the
/// connections read and write on, instead of a separate cooperative pool (docs/performance.md,
/// "Thread crossings"). A request read on a loop is then parsed, decided by the engine and
/// answered on that loop; only the store's writer and readers are other threads.
///
/// NIO's hook must go in before anything runs on the pool, so it is installed at the top of
/// `main`, from the command line as it stands (the parser runs later): `--event-loops N` sizes
/// the group (default 1), and `KEEL_NIO_EXECUTOR=0` keeps Swift's own pool.
enum EventLoopExecutor {
    /// The loop count this process set for NIO's shared group; nil until ``install(arguments:)`` ran.
    nonisolated(unsafe) private(set) static var installedLoopCount: Int?

    /// Installs the hook for `serve` and `dev`; other subcommands keep Swift's pool.
    static func install(arguments: [String], environment: [String: String]) {
        guard let command = arguments.dropFirst().first, command == "serve" || command == "dev" else { return }
        guard environment["KEEL_NIO_EXECUTOR"] != "0" else { return }
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
