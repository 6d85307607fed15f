import Foundation
import Synchronization
public import KeelStorage
public import Logging
import Metrics

/// This node's place among the nodes sharing one ``Store`` (docs/scaling.md): it joins under a
/// fresh id, renews its lease, sweeps dead nodes' work back to ready, and fences itself.
///
/// Self-fencing: the node stops serving (``isServing`` turns false) as soon as it can no longer
/// prove its lease — a renewal answered `.lost`, or no successful renewal for `fenceAfter` of
/// this process's monotonic clock, counted from the moment the last good renewal was *sent*, so
/// it stops before the others may take its work over. A lost lease rejoins under a new id; work
/// claimed under the old one was rescued by the others and its late writes are refused by fences.
public actor NodeMembership {
    public struct Settings: Sendable {
        /// How long the database keeps a silent node's work before another node may take it over.
        public var leaseMillis: Int64 = 10_000
        /// How often to renew and sweep; a third of the lease leaves two renewals of slack.
        public var renewEvery: Duration = .milliseconds(3_333)
        /// Stop serving after this long without a good renewal: less than the lease, by a margin
        /// for the renewal's own round trip.
        public var fenceAfter: Duration = .milliseconds(8_000)

        public init() {}

        /// A lease of `millis`, renewed every third of it, fenced after four fifths of it.
        public init(leaseMillis millis: Int64) {
            leaseMillis = millis
            renewEvery = .milliseconds(millis / 3)
            fenceAfter = .milliseconds(millis * 4 / 5)
        }

        /// The lease of the one node a store can have (a SQLite file, whose lock keeps every other
        /// process out): nobody can take its work over, so it never runs out, and a process paused
        /// past any lease (a laptop asleep, a debugger) goes on with its work instead of rescuing
        /// it from itself. Renewed every few seconds all the same (the sweep rides on it).
        public static var soleNodeOfItsStore: Settings {
            var settings = Settings()
            settings.leaseMillis = 100 * 365 * 86_400_000
            settings.fenceAfter = .seconds(100 * 365 * 86_400)
            return settings
        }
    }

    /// What one renew-and-sweep round found.
    public enum Round: Sendable, Equatable {
        case renewed(RescueReport)
        /// The lease was lost and the node rejoined under `newNodeId`.
        case rejoined(newNodeId: String)
        /// The store could not be reached; `serving` says whether the node still may serve.
        case storeFailed(serving: Bool)
    }

    public let store: any Store
    public let settings: Settings
    private let logger: Logger
    private let prefix: String
    private var incarnation = 0
    /// The lease and when its last good renewal was sent, behind a lock rather than this actor, so
    /// that every request that must prove the lease (``isServing``, ``lease``) reads it where it
    /// runs: a hop to this actor and back cost each step, start and call two thread switches and a
    /// wait to re-enter the engine (docs/performance.md, "Starts and steps keep no task while they
    /// commit"). Written only by this actor.
    private struct Standing {
        var lease: NodeLease?
        var lastGoodRenewalSent: ContinuousClock.Instant?
    }

    private let standing = Mutex(Standing())

    /// This node's lease; nil before the join, after a leave, and while a lost lease rejoins.
    public nonisolated var lease: NodeLease? { standing.withLock { $0.lease } }

    public init(store: any Store, settings: Settings = Settings(), logger: Logger = Logger(label: "keel.node")) {
        self.store = store
        self.settings = settings
        self.logger = logger
        prefix = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// True while this node may claim and acknowledge work.
    public nonisolated var isServing: Bool {
        let (lease, sent) = standing.withLock { ($0.lease, $0.lastGoodRenewalSent) }
        guard lease != nil, let sent else { return false }
        return ContinuousClock.now - sent < settings.fenceAfter
    }

    /// Joins the cluster under a new node id. Logs nothing: the server's start-up line names the
    /// node once it serves (a start that fails after the join logs only its error).
    @discardableResult
    public func join() async throws -> NodeLease {
        incarnation += 1
        let sent = ContinuousClock.now
        let joined = try await store.join(nodeId: "\(prefix)-\(incarnation)", leaseMillis: settings.leaseMillis)
        standing.withLock { $0 = Standing(lease: joined, lastGoodRenewalSent: sent) }
        return joined
    }

    /// Joins again under a new id after the lease was lost, and says so.
    private func rejoin() async throws -> NodeLease {
        let joined = try await join()
        logger.notice("rejoined the cluster", metadata: ["node": "\(joined.nodeId)", "leaseMs": "\(settings.leaseMillis)"])
        return joined
    }

    /// Leaves the cluster at once (a start that failed after the join): the node is dead from now
    /// on, and whatever it held is rescued by the next sweep, not after its lease runs out.
    public func leave() async throws {
        guard let current = lease else { return }
        standing.withLock { $0 = Standing() }
        try await store.leave(current)
    }

    /// One round: renew (rejoining if the lease was lost), then sweep dead nodes' work.
    public func round() async -> Round {
        guard let current = lease else {
            do {
                let joined = try await rejoin()
                return .rejoined(newNodeId: joined.nodeId)
            } catch {
                return failed(error)
            }
        }
        let sent = ContinuousClock.now
        do {
            switch try await store.renew(current) {
            case .held:
                standing.withLock { $0.lastGoodRenewalSent = sent }
                Counter(label: "keel_node_lease_renewals_total", dimensions: [("outcome", "held")]).increment()
            case .lost:
                Counter(label: "keel_node_lease_renewals_total", dimensions: [("outcome", "lost")]).increment()
                logger.warning(
                    "this node's lease was lost (paused or cut off past it); its work was or will be taken over; rejoining",
                    metadata: ["node": "\(current.nodeId)"])
                standing.withLock { $0 = Standing() }
                let joined = try await rejoin()
                return .rejoined(newNodeId: joined.nodeId)
            }
            let report = try await store.rescue()
            if !report.deadNodes.isEmpty || report.tasksReturned > 0 || report.executionsReturned > 0 {
                Counter(label: "keel_node_rescued_tasks_total").increment(by: report.tasksReturned)
                Counter(label: "keel_node_rescued_executions_total").increment(by: report.executionsReturned)
                logger.notice(
                    "took over dead nodes' work",
                    metadata: [
                        "dead": "\(report.deadNodes.joined(separator: ","))", "tasks": "\(report.tasksReturned)",
                        "executions": "\(report.executionsReturned)",
                    ])
            }
            return .renewed(report)
        } catch {
            return failed(error)
        }
    }

    private func failed(_ error: any Error) -> Round {
        Counter(label: "keel_node_lease_renewals_total", dimensions: [("outcome", "error")]).increment()
        let serving = isServing
        logger.error(
            "cannot renew this node's lease",
            metadata: ["error": "\(error)", "serving": "\(serving)", "node": "\(lease?.nodeId ?? "-")"])
        return .storeFailed(serving: serving)
    }

    /// Renews and sweeps every `settings.renewEvery` until the task is cancelled.
    public func run() async {
        while !Task.isCancelled {
            _ = await round()
            do { try await Task.sleep(for: settings.renewEvery) } catch { return }
        }
    }
}
