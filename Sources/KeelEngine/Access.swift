import Foundation
import KeelCore

/// What a connection may do. Fixed at `initialize`; see docs/security.md for the role table.
public enum Role: String, Sendable, CaseIterable {
    /// Starts, signals, queries and calls work; reads and lists it; cancels it.
    case client
    /// Registers the names its credential allows, answers its own attempts and runs, heartbeats them.
    case worker
    /// Everything, including `shutdown`, `workflow/resume` and contract management.
    case admin
}

/// The names a worker credential may serve: `*` (all), `greet.*` (a prefix) or `billing.charge` (one name).
public struct NameAllowList: Sendable, Equatable, CustomStringConvertible {
    public let patterns: [String]

    /// Every name.
    public static let all = NameAllowList(patterns: ["*"])

    public init(patterns: [String]) { self.patterns = patterns }

    /// Parses a comma-separated list such as `greet.*,billing.charge`.
    /// - Throws: `KeelError(.invalidParams)` for an empty list or an empty entry.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else {
            throw KeelError(.invalidParams, "--worker-names takes a comma-separated list such as 'greet.*,billing.charge'")
        }
        patterns = parts
    }

    /// True when `name` is one of the names, or starts with a listed `prefix.`.
    public func allows(_ name: String) -> Bool {
        patterns.contains { p in
            if p == "*" { return true }
            if p.hasSuffix("*") { return name.hasPrefix(p.dropLast()) }
            return name == p
        }
    }

    public var description: String { patterns.joined(separator: ",") }
}

/// The rights a connection holds: its roles, the names it may serve, and who it is (for logs
/// and contract ownership; never a secret).
public struct Grant: Sendable, Equatable {
    public var roles: Set<Role>
    public var workerNames: NameAllowList
    /// A stable label of the credential: `admin`, `client-token`, `worker-token`, `spawned:NAME`, `local-socket`.
    public var identity: String

    /// True when a contract this identity pinned may be changed by it again: spawned workers,
    /// whose identity is the operator's own `--worker` command, so a redeploy with a new schema
    /// works. A shared token's holders may not (any holder could be a squatter).
    public var replacesOwnContracts: Bool

    public init(roles: Set<Role>, workerNames: NameAllowList = .all, identity: String, replacesOwnContracts: Bool = false) {
        self.roles = roles
        self.workerNames = workerNames
        self.identity = identity
        self.replacesOwnContracts = replacesOwnContracts
    }

    public static func admin(_ identity: String) -> Grant { Grant(roles: [.admin], identity: identity) }

    /// True when the grant includes `role` (admin includes every role).
    public func has(_ role: Role) -> Bool { roles.contains(.admin) || roles.contains(role) }

    /// True when a worker with this grant may register `name`.
    public func mayServe(_ name: String) -> Bool {
        roles.contains(.admin) || (roles.contains(.worker) && workerNames.allows(name))
    }

    /// The roles in a fixed order, for `initialize`'s answer and messages.
    public var roleNames: [String] { Role.allCases.filter { roles.contains($0) }.map(\.rawValue) }
}

/// The one table from method to the role it needs, checked per request before its params
/// (docs/security.md). Methods Keel only sends (`activity/execute`, `workflow/run`) are absent:
/// a peer sending them gets `-32601`, whatever its role.
public enum Access {
    /// The role each method Keel accepts needs; `nil` means any initialized connection.
    public static let requiredRole: [String: Role?] = [
        "initialize": nil, "ping": nil,
        "worker/register": .worker, "activity/heartbeat": .worker, "activity/publish": .worker, "workflow/step": .worker,
        "worker/list": .client, "activity/call": .client, "activity/result": .client, "activity/cancel": .client,
        "activity/list": .client,
        "workflow/start": .client, "workflow/result": .client, "workflow/signal": .client,
        "workflow/cancel": .client, "workflow/describe": .client, "workflow/list": .client, "workflow/query": .client, "workflow/update": .client,
        "workflow/history": .client, "workflow/follow": .client, "workflow/reset": .client, "workflow/batch": .client, "workflow/terminate": .client,
        "schedule/create": .client, "schedule/describe": .client, "schedule/list": .client, "schedule/pause": .client,
        "schedule/unpause": .client, "schedule/trigger": .client, "schedule/delete": .client,
        "workflow/resume": .admin, "shutdown": .admin, "contract/release": .admin,
    ]

    /// Methods only Keel sends; a peer sending one gets `-32601` before its params are read.
    public static let outbound: Set<String> = ["activity/execute", "workflow/run"]

    /// Refuses `method` unless `grant` holds the role it needs.
    /// - Throws: `KeelError(.unauthorized)` with `data: {method, required, held}`; `-32601` for
    ///   ``outbound`` methods. Unknown methods pass (they get `-32601` from the dispatcher).
    public static func check(_ method: String, grant: Grant) throws {
        if outbound.contains(method) {
            throw KeelError(
                .methodNotFound, "Keel sends \(method) to workers; it does not accept it",
                data: ["method": .string(method)])
        }
        guard let entry = requiredRole[method], let role = entry, !grant.has(role) else { return }
        throw KeelError(
            .unauthorized,
            "\(method) needs the \(role.rawValue) role; this connection holds \(grant.roleNames.joined(separator: ", ")) "
                + "(docs/security.md)",
            data: [
                "method": .string(method), "required": .string(role.rawValue),
                "held": .array(grant.roleNames.map { .string($0) }),
            ])
    }
}
