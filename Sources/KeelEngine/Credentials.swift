import KeelCore

/// The tokens an orchestrator accepts, one per role, and the one function that checks a
/// presented token (docs/security.md). Tokens never appear in messages or logs.
public struct Credentials: Sendable {
    /// Shortest accepted token, in bytes: 128 bits of hex is 32; 16 bytes is the floor.
    public static let minimumTokenBytes = 16

    public var adminToken: String?
    public var clientToken: String?
    public var workerToken: String?
    /// The names the worker token may serve.
    public var workerNames: NameAllowList

    public init(adminToken: String? = nil, clientToken: String? = nil, workerToken: String? = nil,
        workerNames: NameAllowList = .all)
    {
        self.adminToken = adminToken
        self.clientToken = clientToken
        self.workerToken = workerToken
        self.workerNames = workerNames
    }

    /// True when at least one token is configured.
    public var isEmpty: Bool { adminToken == nil && clientToken == nil && workerToken == nil }

    /// Refuses tokens that are too short or shared between roles.
    /// - Throws: `KeelError(.invalidParams)` naming the role, never the token.
    public func validate() throws {
        let all = [("admin", adminToken), ("client", clientToken), ("worker", workerToken)]
        for (role, token) in all {
            guard let token else { continue }
            guard token.utf8.count >= Self.minimumTokenBytes else {
                throw KeelError(
                    .invalidParams,
                    "the \(role) token is \(token.utf8.count) bytes; tokens must be at least \(Self.minimumTokenBytes) "
                        + "bytes (make one with `keel token new`)")
            }
        }
        let given = all.compactMap(\.1)
        guard Set(given).count == given.count else {
            throw KeelError(.invalidParams, "two roles were given the same token; use one token per role")
        }
    }

    /// The grant for `token`, or nil when it matches no configured token. Every token is
    /// compared in constant time, whether or not an earlier one matched.
    public func authenticate(_ token: String) -> Grant? {
        let admin = adminToken.map { constantTimeEqual(token, $0) } ?? false
        let worker = workerToken.map { constantTimeEqual(token, $0) } ?? false
        let client = clientToken.map { constantTimeEqual(token, $0) } ?? false
        if admin { return .admin("admin-token") }
        if worker { return Grant(roles: [.worker, .client], workerNames: workerNames, identity: "worker-token") }
        if client { return Grant(roles: [.client], identity: "client-token") }
        return nil
    }
}

/// Compares secrets without leaking where they differ through timing.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var diff = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return diff == 0
}
