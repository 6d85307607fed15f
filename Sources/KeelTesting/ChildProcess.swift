import Foundation

/// A real child process for end-to-end tests: the `keel` binary, or a worker in any language.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: Process is used from the test task only; its output goes to a file.
    let process: Process
    public let logPath: String

    /// Starts `argv` with stdout and stderr appended to `logPath`.
    public init(_ argv: [String], logPath: String, environment: [String: String] = [:], directory: String? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0].contains("/") ? argv[0] : "/usr/bin/env")
        process.arguments = argv[0].contains("/") ? Array(argv.dropFirst()) : argv
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        self.logPath = logPath
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    /// True until the process exits.
    public var isRunning: Bool { process.isRunning }

    /// The exit status once it exited (nil while it runs).
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// SIGKILL, as a crash.
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP: the process stays, frozen (a long GC pause, a VM stall), until ``resume()``.
    public func pause() { kill(process.processIdentifier, SIGSTOP) }

    /// SIGCONT after ``pause()``.
    public func resume() { kill(process.processIdentifier, SIGCONT) }

    /// SIGTERM, then wait.
    public func terminate() {
        process.terminate()
        process.waitUntilExit()
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// Paths inside the package, for tests that run the built binary or a client's files.
public enum PackagePaths {
    /// The package root, found from this file's location.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The `keel` binary of this build (debug unless `KEEL_BINARY` says otherwise).
    public static var keelBinary: String {
        if let b = ProcessInfo.processInfo.environment["KEEL_BINARY"] { return b }
        for config in ["debug", "release"] {
            let p = root + "/.build/\(config)/keel"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return root + "/.build/debug/keel"
    }
}
