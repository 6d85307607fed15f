import Glibc
import KeelCore
import KeelEngine
import KeelProtocol
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A worker that `keel serve --worker CMD` spawns and keeps running.
public struct WorkerSpec: Sendable {
    /// Display name, used in logs and as the worker's default registered name.
    public var name: String
    public var argv: [String]
    /// Working directory of the process (default: the orchestrator's).
    public var directory: String?

    /// Parses a command line into a spec; `sh -c` is used only when the command asks for it.
    public init(command: String, name: String? = nil) throws {
        argv = try WorkerProcess.split(command)
        guard let first = argv.first else { throw KeelError(.invalidParams, "--worker needs a command") }
        self.name = name ?? Self.defaultName(argv)
    }
}

extension WorkerSpec {
    /// Interpreters whose first argument is the worker's script.
    static let interpreters: Set<String> = ["python", "python3", "node", "ruby", "perl", "php", "bash", "deno", "bun"]

    /// The script's file name for `python3 path/w.py`, else the program's: `calc-worker`, `node`.
    static func defaultName(_ argv: [String]) -> String {
        func base(_ s: String) -> String { String(s.split(separator: "/").last ?? Substring(s)) }
        let program = base(argv[0])
        if interpreters.contains(program), argv.count > 1, !argv[1].hasPrefix("-") { return base(argv[1]) }
        return program
    }
}

/// Spawns stdio workers, serves each over the shared line protocol, restarts them with
/// exponential backoff when they exit, and stops them in order: close stdin, wait, SIGTERM,
/// wait, SIGKILL (STYLE.md §8).
final class WorkerSupervisor: Sendable {
    /// How long a worker gets to exit after its stdin closes, and again after SIGTERM.
    static let terminationGraceMs = 3_000
    /// Restart backoff bounds; a worker that ran longer than `healthyRunMs` starts from the minimum again.
    static let minimumRestartDelayMs: Int64 = 100
    static let maximumRestartDelayMs: Int64 = 30_000
    static let healthyRunMs: Int64 = 30_000

    let engine: Engine
    let limits: RPCChannel.Limits
    let passEnvironment: Set<String>
    let logger: Logger
    let socketPath: String?
    /// Spawned workers present no token (stdio is authenticated by being spawned); kept so a
    /// worker that sends one anyway is checked like any peer.
    let credentials: Credentials
    private let stopping = Atomic<Bool>(false)
    private let running = Locked<[pid_t: RPCConnection]>([:])

    init(
        engine: Engine, limits: RPCChannel.Limits, passEnvironment: Set<String>, socketPath: String?,
        credentials: Credentials = Credentials(), logger: Logger
    ) {
        self.credentials = credentials
        self.engine = engine
        self.limits = limits
        self.passEnvironment = passEnvironment
        self.socketPath = socketPath
        self.logger = logger
    }

    /// Keeps one worker alive until ``stop()``.
    func supervise(_ spec: WorkerSpec) async {
        var delay = Self.minimumRestartDelayMs
        while !stopping.load(ordering: .acquiring) {
            let started = ContinuousClock.now
            do {
                try await runOnce(spec)
            } catch {
                logger.error("worker failed to start", metadata: ["worker": "\(spec.name)", "error": "\(error)"])
            }
            if stopping.load(ordering: .acquiring) { break }
            if started.duration(to: .now) > .milliseconds(Self.healthyRunMs) { delay = Self.minimumRestartDelayMs }
            logger.warning("worker exited; restarting", metadata: ["worker": "\(spec.name)", "delayMs": "\(delay)"])
            var waited: Int64 = 0
            while waited < delay && !stopping.load(ordering: .acquiring) {
                try? await Task.sleep(for: .milliseconds(50))
                waited += 50
            }
            delay = min(delay * 2, Self.maximumRestartDelayMs)
        }
    }

    private func runOnce(_ spec: WorkerSpec) async throws {
        var env = ["KEEL_TRANSPORT": "stdio", "KEEL_WORKER_NAME": spec.name, "PYTHONUNBUFFERED": "1"]
        if let socketPath { env["KEEL_SOCKET"] = socketPath }
        let process = try WorkerProcess.spawn(
            argv: spec.argv, extraEnvironment: env, passEnvironment: passEnvironment, directory: spec.directory)
        logger.info("worker started", metadata: ["worker": "\(spec.name)", "pid": "\(process.pid)"])
        let exited = Flag()
        let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .takingOwnershipOfDescriptors(input: process.stdoutRead, output: process.stdinWrite) { ch in
                RPCChannel.configure(ch, limits: self.limits)
            }
        let stderrChannel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .takingOwnershipOfDescriptor(input: process.stderrRead) { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumFrameBytes: 64 * 1024)))
                    return try NIOAsyncChannel<Frame, Never>(wrappingChannelSynchronously: ch)
                }
            }
        let engine = self.engine
        let session = SessionBox()
        await withDiscardingTaskGroup { group in
            group.addTask {
                let status = await process.waitForExit()
                exited.set()
                self.logger.info("worker exited", metadata: ["worker": "\(spec.name)", "pid": "\(process.pid)", "status": "\(Self.describe(status))"])
            }
            group.addTask {
                await RPCChannel.serve(
                    channel, limits: self.limits,
                    setUp: { connection in
                        // Worker for any name plus client (its workflows call activities); never admin.
                        let s = Session(
                            connection: connection, transport: "stdio", pid: process.pid, credentials: self.credentials,
                            anonymous: Grant(
                                roles: [.worker, .client], identity: "spawned:\(spec.name)", replacesOwnContracts: true),
                            label: spec.name,
                            peer: "pid \(process.pid)")
                        session.set(s)
                        self.running.withLock { $0[process.pid] = connection }
                        await engine.attach(s)
                        return SessionHandler(engine: engine, session: s)
                    },
                    tearDown: { connection in
                        self.running.withLock { _ = $0.removeValue(forKey: process.pid) }
                        if let s = session.get() { await engine.detach(s) }
                    })
                // stdout closed: the worker is exiting or closed its end; make sure it goes.
                await Self.terminate(process, exited: exited)
            }
            group.addTask {
                try? await stderrChannel.executeThenClose { inbound, _ in
                    for try await frame in inbound {
                        if case .line(let buffer) = frame {
                            self.logger.info("\(String(buffer: buffer))", metadata: ["worker": "\(spec.name)"])
                        }
                    }
                }
            }
        }
    }

    /// Close stdin, wait, SIGTERM, wait, SIGKILL.
    private static func terminate(_ process: WorkerProcess, exited: Flag) async {
        func waitExit(_ ms: Int) async -> Bool {
            var waited = 0
            while waited < ms {
                if exited.isSet { return true }
                try? await Task.sleep(for: .milliseconds(20))
                waited += 20
            }
            return exited.isSet
        }
        if await waitExit(terminationGraceMs) { return }
        process.signal(SIGTERM)
        if await waitExit(terminationGraceMs) { return }
        process.signal(SIGKILL)
    }

    /// Stops every worker: their connections close (stdin EOF), and escalation follows.
    func stop() {
        stopping.store(true, ordering: .releasing)
        for c in running.withLock({ Array($0.values) }) { c.close() }
    }

    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7F
        return signal == 0 ? "exit \((status >> 8) & 0xFF)" : "signal \(signal)"
    }
}

/// Holds a session created inside a closure for use in a later one.
final class SessionBox: Sendable {
    private let value = Locked<Session?>(nil)
    func set(_ s: Session) { value.withLock { $0 = s } }
    func get() -> Session? { value.withLock { $0 } }
}
