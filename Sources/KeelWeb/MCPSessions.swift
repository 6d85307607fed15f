import Synchronization

/// The `Mcp-Session-Id`s the streamable-HTTP endpoint handed out at `initialize` (the
/// 2025-11-25 era; 2026-07-28 requests carry no session). Bounded: past ``limit`` the oldest
/// is forgotten, and its client gets 404 and initializes again, as the transport describes.
final class MCPSessions: Sendable {
    static let limit = 4096
    private let state = Mutex<(ids: Set<String>, order: [String])>(([], []))

    /// A fresh id (128 random bits, hex), remembered.
    func open() -> String {
        let id = (0..<2).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined(separator: "-")
        state.withLock { s in
            s.ids.insert(id)
            s.order.append(id)
            if s.order.count > Self.limit { s.ids.remove(s.order.removeFirst()) }
        }
        return id
    }

    func contains(_ id: String) -> Bool { state.withLock { $0.ids.contains(id) } }

    /// Forgets `id` (`DELETE /mcp`); false when it was not known.
    func close(_ id: String) -> Bool {
        state.withLock { s in
            guard s.ids.remove(id) != nil else { return false }
            s.order.removeAll { $0 == id }
            return true
        }
    }
}
