import Foundation

/// Who may do what on the web listener. On a loopback address reading needs nothing and
/// actions need the CSRF token; bound anywhere else every request needs a credential
/// (HTTP Basic or Bearer with a serve token): the client token reads, the admin token acts.
struct WebAccess: Sendable {
    enum Level: Int, Comparable {
        case none, read, act
        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    var loopback: Bool
    var readOnly: Bool
    var adminToken: String?
    var clientToken: String?

    /// True for `127.0.0.0/8`, `::1` and `localhost`.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// What a request with this `Authorization` header may do.
    func level(authorization: String?) -> Level {
        let cap: Level = readOnly ? .read : .act
        if loopback { return cap }
        guard let token = Self.token(authorization) else { return .none }
        if let adminToken, Self.same(token, adminToken) { return cap }
        if let clientToken, Self.same(token, clientToken) { return .read }
        return .none
    }

    /// The token of `Bearer TOKEN` or of `Basic base64(user:TOKEN)` (any user name).
    static func token(_ header: String?) -> String? {
        guard let header else { return nil }
        if header.hasPrefix("Bearer ") { return String(header.dropFirst(7)) }
        guard header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return String(text[text.index(after: colon)...])
    }

    /// Compares in time independent of where the strings differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
