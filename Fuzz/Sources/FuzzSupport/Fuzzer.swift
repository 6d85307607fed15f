#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFuzzDriver

/// The test function libFuzzer calls; set once by ``runFuzzer(_:)`` before the driver starts.
nonisolated(unsafe) private var testOneInput: (UnsafeBufferPointer<UInt8>) -> Void = { _ in }

/// Runs libFuzzer (command line from `CommandLine`) with `test` as the fuzz target; never returns.
///
/// `test` gets each input; it checks its properties with `precondition`, so a violated property is
/// a crash that libFuzzer reports and saves. libFuzzer flags (`-runs`, `-max_total_time`, corpus
/// directories, files to re-run) work as usual.
public func runFuzzer(_ test: @escaping (UnsafeBufferPointer<UInt8>) -> Void) -> Never {
    testOneInput = test
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        testOneInput(UnsafeBufferPointer(start: data, count: size))
        return 0
    }
    exit(status)
}

/// Stops with `message` when a property does not hold. Unlike `precondition`, it keeps the message
/// in release builds, so the fuzzer's log says which property failed and for what input.
public func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
