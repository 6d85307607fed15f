import KeelCore
@testable import KeelServer
import KeelTesting
import Testing

/// The admission rules on their own (the live suites check them over sockets).
@Suite("Admission")
struct AdmissionTests {
    func make(perPeer: Int = 2, global: Int = 3, failures: Int = 2) -> (Admission, ManualClock) {
        var limits = ConnectionLimits()
        limits.maxConnectionsPerPeer = perPeer
        limits.maxAuthFailuresPerMinute = failures
        let clock = ManualClock()
        return (Admission(limits: limits, maxConnections: global, clock: clock), clock)
    }

    @Test func capsArePerPeerAndGlobalAndFreedOnRelease() {
        let (admission, _) = make()
        #expect(admission.admit(peer: "10.0.0.1") == nil)
        #expect(admission.admit(peer: "10.0.0.1") == nil)
        #expect(admission.admit(peer: "10.0.0.1")?.data?["scope"] == "peer")
        #expect(admission.admit(peer: "10.0.0.2") == nil)
        #expect(admission.admit(peer: nil)?.data?["scope"] == "global")
        admission.release(peer: "10.0.0.1")
        #expect(admission.admit(peer: nil) == nil)
    }

    @Test func tokenFailuresAreForgottenAfterAMinute() {
        let (admission, clock) = make(global: 100, failures: 2)
        admission.recordAuthFailure(peer: "10.0.0.9")
        admission.recordAuthFailure(peer: "10.0.0.9")
        let refusal = admission.admit(peer: "10.0.0.9")
        #expect(refusal?.code == .tooManyAuthFailures)
        // ManualClock is wall time plus an offset: a busy core may let a millisecond or more
        // pass between the failure and the check.
        let retryAfter = refusal?.data?["retryAfterMs"]?.int64Value ?? 0
        #expect((55_000...60_000).contains(retryAfter), "retryAfterMs \(retryAfter)")
        #expect(admission.admit(peer: "10.0.0.8") == nil, "other addresses are not throttled")
        clock.advance(byMs: 60_001)
        #expect(admission.admit(peer: "10.0.0.9") == nil)
    }

    @Test func theConnectionBudgetKeepsAReserveOfDescriptors() {
        #expect(FileDescriptorLimit.connectionBudget(softLimit: 64) == 32)
        #expect(FileDescriptorLimit.connectionBudget(softLimit: 1024) == 768)
        #expect(FileDescriptorLimit.connectionBudget(softLimit: 1_048_576) == 1_048_320)
    }
}
