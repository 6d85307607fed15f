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
/// wait, SIGKILL (STYLE.md §8). Once a stop began (``stopRestarting()``, or the task is
/// cancelled) no worker is restarted, and the waits keep their length even in a cancelled task,
/// so a stop can never turn into a restart storm.
final class WorkerSupervisor: Sendable {
    /// How long a worker gets to exit after its stdin closes, and again after SIGTERM.
    static let terminationGraceMs = 3_000
    /// How long a worker's pipes are still read after its process exited (a child it left behind
    /// may hold them open); then they are closed.
    static let pipeGraceMs = 2_000
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
    private let workers = SupervisedWorkers()

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

    /// Whether a worker that exited may be started again.
    private var mayRestart: Bool { workers.mayStart && !Task.isCancelled }

    /// Keeps one worker alive until the stop begins (``stopRestarting()``, ``stop()``, or cancellation).
    func supervise(_ spec: WorkerSpec) async {
        var delay = Self.minimumRestartDelayMs
        while mayRestart {
            let started = ContinuousClock.now
            do {
                try await runOnce(spec)
            } catch {
                logger.error("worker failed to start", metadata: ["worker": "\(spec.name)", "error": "\(error)"])
            }
            guard mayRestart else { break }
            if started.duration(to: .now) > .milliseconds(Self.healthyRunMs) { delay = Self.minimumRestartDelayMs }
            logger.warning("worker exited; restarting", metadata: ["worker": "\(spec.name)", "delayMs": "\(delay)"])
            var waited: Int64 = 0
            while waited < delay && mayRestart {
                await Self.pause(ms: 50)
                waited += 50
            }
            delay = min(delay * 2, Self.maximumRestartDelayMs)
        }
        logger.info("worker stopped", metadata: ["worker": "\(spec.name)"])
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
        workers.add(process.pid, channel: channel.channel)
        defer { workers.remove(process.pid) }
        let engine = self.engine
        let session = SessionBox()
        await withDiscardingTaskGroup { group in
            group.addTask {
                let status = await process.waitForExit()
                exited.set()
                self.logger.info("worker exited", metadata: ["worker": "\(spec.name)", "pid": "\(process.pid)", "status": "\(Self.describe(status))"])
                // A child the worker left behind may hold its pipes open: stop reading them soon.
                var waited = 0
                while waited < Self.pipeGraceMs, channel.channel.isActive || stderrChannel.channel.isActive {
                    await Self.pause(ms: 20)
                    waited += 20
                }
                channel.channel.close(promise: nil)
                stderrChannel.channel.close(promise: nil)
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
                        self.workers.attach(process.pid, connection: connection)
                        await engine.attach(s)
                        return SessionHandler(engine: engine, session: s)
                    },
                    tearDown: { connection in
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
                await pause(ms: 20)
                waited += 20
            }
            return exited.isSet
        }
        if await waitExit(terminationGraceMs) { return }
        process.signal(SIGTERM)
        if await waitExit(terminationGraceMs) { return }
        process.signal(SIGKILL)
    }

    /// Sleeps `ms` milliseconds even in a cancelled task (where `Task.sleep` returns at once and
    /// a polling loop would spin): the stop sequence's grace periods and the restart backoff keep their length.
    static func pause(ms: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .milliseconds(Int64(ms))) { c.resume() }
        }
    }

    /// First phase of a stop, before the engine drains: a worker that exits from now on is not restarted.
    func stopRestarting() { workers.stopRestarting() }

    /// Stops every worker: their connections close (stdin EOF), and escalation follows. A worker
    /// that is still starting is closed as soon as its pipes are set up.
    func stop() { workers.closeAll() }

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
