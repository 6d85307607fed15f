import CConcurrencyHook
import Foundation
import NIOCore
import NIOPosix

/// Runs Swift concurrency of `keel serve` and `keel dev` on NIO's event loops, the threads the
/// connections read and write on, instead of Swift's own pool: by default since the twelfth
/// session, off with `--no-concurrency-on-event-loops` or `KEEL_NIO_EXECUTOR=0`. A request read on
/// a loop is then parsed, decided by the engine and answered on that loop; only the store's writer
/// and readers, and long work (``KeelCore/LongWork``: large frames and payloads, on NIO's blocking
/// pool), are other threads. It halves the thread crossings per call and shortens W2 and W3, and
/// costs up to 13 % of W1's throughput on an idle 2-core machine (docs/performance.md, "Thread
/// crossings").
///
/// NIO's hook must go in before anything runs on the pool, so it is installed at the top of
/// `main`, from the command line as it stands (the parser runs later), with the loop count of
/// `--event-loops N` (default 1).
enum EventLoopExecutor {
    /// The flag of `keel serve` that turns it off.
    static let offFlag = "--no-concurrency-on-event-loops"

    /// The loop count this process set for NIO's shared group; nil until ``install(arguments:environment:)`` did.
    nonisolated(unsafe) private(set) static var installedLoopCount: Int?

    /// True when the hook was wanted and neither NIO nor ``installHookLinkedIn()`` could set it
    /// (another hook was set first). Swift's own pool runs everything then; `serve` and `dev` say
    /// so in a warning (``notice``).
    nonisolated(unsafe) private(set) static var installFailed = false

    /// Installs the hook for `serve` and `dev` unless turned off; nothing for other commands.
    static func install(arguments: [String], environment: [String: String]) {
        guard let command = arguments.dropFirst().first, command == "serve" || command == "dev" else { return }
        guard isWanted(command: command, arguments: arguments, environment: environment) else { return }
        let count = command == "serve" ? eventLoopCount(arguments) ?? 1 : 1
        guard (1...64).contains(count) else { return }  // the parser refuses it with its message
        NIOSingletons.groupLoopCountSuggestion = count
        installedLoopCount = count
        installFailed =
            !NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            && !installHookLinkedIn()
    }

    /// The runtime's global-enqueue hook: a job, and the runtime's own enqueue (not called).
    private typealias EnqueueGlobalHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// What NIO's installer does, for a runtime linked into the binary (`--static-swift-stdlib`):
    /// there the hook is a hidden variable NIO's `dlsym` cannot find, but this binary's own
    /// reference to it resolves (CConcurrencyHook). Each job goes to the event loop it was
    /// enqueued from, or to one of the group's. False when another hook is set already.
    private static func installHookLinkedIn() -> Bool {
        guard let slot = keel_swift_task_enqueue_global_hook(), slot.pointee == nil else { return false }
        let hook: EnqueueGlobalHook = { job, _ in
            let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.any()
            loop.executor.enqueue(ExecutorJob(job))
        }
        slot.pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
        return true
    }

    /// The warning for a hook that was wanted and did not go in, if it did not; nil otherwise.
    static var notice: String? {
        guard installFailed else { return nil }
        return "Swift concurrency could not be moved onto the event loops (another executor hook was set "
            + "before keel's); it runs on Swift's own pool, with about twice the thread switches per call "
            + "(docs/performance.md, \"Thread crossings\")"
    }

    /// On unless `KEEL_NIO_EXECUTOR=0`, or `serve --no-concurrency-on-event-loops` without
    /// `KEEL_NIO_EXECUTOR=1`.
    static func isWanted(command: String, arguments: [String], environment: [String: String]) -> Bool {
        switch environment["KEEL_NIO_EXECUTOR"] {
        case "0": false
        case "1": true
        default: !(command == "serve" && arguments.contains(offFlag))
        }
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
