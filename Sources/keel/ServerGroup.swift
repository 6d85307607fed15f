import Foundation
import KeelServer
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs a server's parts in one ``ServiceGroup`` that SIGTERM and SIGINT stop in order — and
/// watches those signals from before ``KeelServer/start()``, so a signal while the store opens,
/// recovery runs or the listeners bind no longer kills the process half-way (docs/guarantees.md,
/// "Stopping"). Such a signal stops the server as soon as start-up ends, its parts stopping in
/// order; a second one ends the process at once, for a start-up stuck on a database that does
/// not answer.
enum ServerGroup {
    static func run(
        _ server: KeelServer, with extra: [ServiceGroupConfiguration.ServiceConfiguration] = [], logger: Logger
    ) async throws {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let stop = StartUpStop(logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await signal in signals { await stop.received(signal) }
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: try await server.start() + extra, gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            await stop.started(group)
            try await group.run()
            tasks.cancelAll()
        }
    }
}

/// What a SIGTERM or SIGINT does, depending on whether the group runs yet.
private actor StartUpStop {
    private let logger: Logger
    private var group: ServiceGroup?
    private var signalsDuringStartUp = 0

    init(logger: Logger) { self.logger = logger }

    func received(_ signal: UnixSignal) async {
        // Once the group exists it stops itself on the signal; asking it too closes the moment
        // between its creation and its own handlers.
        if let group { return await group.triggerGracefulShutdown() }
        signalsDuringStartUp += 1
        if signalsDuringStartUp == 1 {
            logger.notice(
                "stopping when start-up ends; send the signal again to stop at once", metadata: ["signal": "\(signal)"])
        } else {
            logger.critical("stopped during start-up, at once", metadata: ["signal": "\(signal)"])
            exit(1)
        }
    }

    func started(_ group: ServiceGroup) async {
        self.group = group
        // A stop asked for before the group runs is kept, and the parts stop in order at once.
        if signalsDuringStartUp > 0 { await group.triggerGracefulShutdown() }
    }
}
