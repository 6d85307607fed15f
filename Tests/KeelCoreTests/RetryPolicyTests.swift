import KeelCore
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test func backoffGrowsGeometricallyUpToTheMaximum() {
        var p = RetryPolicy()
        p.initialIntervalMs = 100
        p.backoffCoefficient = 2
        p.maximumIntervalMs = 1000
        #expect([1, 2, 3, 4, 5, 6].map { p.delay(afterAttempt: $0) } == [100, 200, 400, 800, 1000, 1000])
    }

    @Test func maximumAttemptsZeroMeansUnlimited() {
        var p = RetryPolicy()
        #expect(p.allowsAttempt(after: 1_000))
        p.maximumAttempts = 3
        #expect(p.allowsAttempt(after: 2))
        #expect(!p.allowsAttempt(after: 3))
    }

    @Test func wireDecodingNamesTheBadField() {
        #expect(throws: KeelError.self) { try RetryPolicy.decode(["backoffCoefficient": 0.5], field: "retryPolicy") }
        do {
            _ = try RetryPolicy.decode(["maximumAttempts": "three"], field: "retryPolicy")
            Issue.record("expected an error")
        } catch let e as KeelError {
            #expect(e.code == .invalidParams)
            #expect(e.message.contains("retryPolicy.maximumAttempts"))
        } catch { Issue.record("unexpected \(error)") }
    }
}
