@testable import KeelEngine
import KeelProtocol
@testable import KeelWeb
import NIOCore
import Testing

/// The bounded record of recent contract violations, the heartbeat age's wording and the
/// connection's last-message clock.
@Suite("Web UI parts")
struct ContractViolationsTests {
    private func violation(_ at: Int64) -> ContractViolation {
        ContractViolation(direction: "input", at: at, message: "at /: #\(at)")
    }

    @Test("keeps the newest violations per contract, at most perName of them")
    func perName() {
        var ring = ContractViolations()
        for at in 1...Int64(ContractViolations.perName + 5) { ring.record(violation(at), key: "a") }
        let recent = ring.recent("a")
        #expect(recent.count == ContractViolations.perName)
        #expect(recent.first?.at == Int64(ContractViolations.perName + 5), "newest first")
        #expect(recent.last?.at == 6)
        #expect(ring.recent("b").isEmpty)
    }

    @Test("forgets the contract whose latest violation is oldest past maxNames")
    func maxNames() {
        var ring = ContractViolations()
        for i in 0..<ContractViolations.maxNames { ring.record(violation(Int64(i + 10)), key: "k\(i)") }
        ring.record(violation(100_000), key: "k0")
        ring.record(violation(100_001), key: "new")
        #expect(ring.count == ContractViolations.maxNames)
        #expect(ring.recent("k1").isEmpty, "k1's latest violation was the oldest")
        #expect(ring.recent("k0").count == 2 && ring.recent("new").count == 1)
    }

    @Test("the heartbeat age moves in steps of ten seconds, then minutes, and flags a quiet worker")
    func heartbeatWords() {
        #expect(WorkersPage.heartbeatAge(3_000) == "under 10 s ago")
        #expect(WorkersPage.heartbeatAge(42_000) == "40 s ago")
        #expect(WorkersPage.heartbeatAge(150_000) == "<b>2 min 0 s ago</b>")
    }

    @Test("a connection's last-message clock restarts with every frame, a keep-alive line included")
    func lastInbound() async throws {
        let connection = RPCConnection(outbound: NullOutbound())
        try await Task.sleep(for: .milliseconds(1500))
        #expect(connection.millisecondsSinceLastInbound >= 1400)
        _ = connection.receive(.line(ByteBuffer(string: " ")))
        #expect(connection.millisecondsSinceLastInbound < 1400)
    }
}

private struct NullOutbound: RPCOutbound {
    func write(_ bytes: [UInt8]) {}
    func close() {}
}
