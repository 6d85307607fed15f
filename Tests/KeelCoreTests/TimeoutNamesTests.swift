import KeelCore
import Testing

/// Issue 13: the heartbeat timeout has one wire name, `heartbeatTimeoutMs` (as in
/// `activity/execute`); `heartbeatMs` stays readable as its deprecated alias.
@Suite("Timeout names")
struct TimeoutNamesTests {
    func decode(_ value: JSONValue) throws -> ActivityTimeouts {
        try ActivityTimeouts.decode(value, field: "timeouts")
    }

    @Test func theNewNameTheOldNameAndBothAgreeingAllSetTheHeartbeatTimeout() throws {
        #expect(try decode(["heartbeatTimeoutMs": 5_000]).heartbeatMs == 5_000)
        #expect(try decode(["heartbeatMs": 3_000]).heartbeatMs == 3_000)
        #expect(try decode(["heartbeatTimeoutMs": 2_000, "heartbeatMs": 2_000]).heartbeatMs == 2_000)
        #expect(try decode(["heartbeatTimeoutMs": 2_000, "heartbeatMs": nil]).heartbeatMs == 2_000)
    }

    @Test func twoDifferentValuesAreRefusedNamingTheAlias() {
        #expect(throws: KeelError.self) { try decode(["heartbeatTimeoutMs": 2_000, "heartbeatMs": 3_000]) }
        do {
            _ = try decode(["heartbeatTimeoutMs": 2_000, "heartbeatMs": 3_000])
        } catch let error as KeelError {
            #expect(error.code == .invalidParams)
            #expect(error.data == ["field": "timeouts.heartbeatMs"])
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func nullUnsetsAnInheritedValueAndTheStoredFormUsesTheNewName() throws {
        let base = ActivityTimeouts(heartbeatMs: 9_000)
        #expect(try ActivityTimeouts.decode(["heartbeatTimeoutMs": nil], base: base, field: "t").heartbeatMs == nil)
        #expect(try ActivityTimeouts.decode([:], base: base, field: "t").heartbeatMs == 9_000)
        #expect(base.json["heartbeatTimeoutMs"] == 9_000)
        #expect(base.json["heartbeatMs"] == nil)
        // A task stored before the rename reads back the same.
        #expect(try decode(["startToCloseMs": 1_000, "heartbeatMs": 9_000]) == ActivityTimeouts(startToCloseMs: 1_000, heartbeatMs: 9_000))
    }
}
