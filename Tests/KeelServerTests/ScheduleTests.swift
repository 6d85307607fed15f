import Foundation
import KeelClient
import KeelCore
import KeelProtocol
import KeelTesting
import Testing

/// Issue 17, item 1: schedules start a workflow per slot, durably, under an overlap policy and a
/// catch-up window (docs/protocol.md, "Schedules"). The clock is moved by hand: a year of a daily
/// schedule passes in one step.
@Suite("Schedules", .timeLimit(.minutes(5)))
struct ScheduleTests {
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000
    /// 2026-01-01T00:00:00Z.
    static let newYear: EpochMillis = 1_767_225_600_000

    /// Moves `clock` to `instant` (it keeps running from there).
    static func set(_ clock: ManualClock, to instant: EpochMillis) { clock.advance(byMs: instant - clock.now()) }

    static func describe(_ client: KeelClient, _ id: String) async throws -> JSONValue {
        let d = try await client.call("schedule/describe", ["scheduleId": .string(id)])
        #expect(ProtocolValidator.shared.checkResult(method: "schedule/describe", result: d) == nil, "\(d)")
        return d
    }

    /// Waits until the schedule has started `n` workflows (or 4 minutes pass: each start is a commit,
    /// and a loaded CI machine took over a minute for a year's 365) and answers its description.
    static func started(_ client: KeelClient, _ id: String, atLeast n: Int) async throws -> JSONValue {
        _ = try await eventually(timeout: .seconds(240)) { try await describe(client, id)["started"]?.int64Value ?? 0 >= Int64(n) }
        return try await describe(client, id)
    }

    static func workflowIds(_ client: KeelClient, name: String) async throws -> [String] {
        let list = try await client.call("workflow/list", ["name": .string(name), "limit": 1000])
        return (list["workflows"]?.arrayValue ?? []).compactMap { $0["workflowId"]?.stringValue }
    }

    @Test func aDailyCronInParisStartsOnceADayForAYearFollowingDaylightSaving() async throws {
        let clock = ManualClock()
        Self.set(clock, to: Self.newYear)
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    let created = try await client.createSchedule(
                        "daily", spec: ["cron": "0 9 * * *", "timeZone": "Europe/Paris"],
                        action: ["workflow": "report.daily", "input": ["kind": "summary"]], options: ["overlap": "allowAll"])
                    #expect(ProtocolValidator.shared.checkResult(method: "schedule/create", result: created) == nil, "\(created)")
                    #expect(created["nextActionTimesMs"]?.arrayValue?.first?.int64Value == Self.newYear + 8 * Self.hour)
                    clock.advance(byMs: 365 * Self.day)
                    let d = try await Self.started(client, "daily", atLeast: 365)
                    #expect(d["started"] == 365 && d["skipped"] == 0, "\(d)")
                    let ids = Set(try await Self.workflowIds(client, name: "report.daily"))
                    #expect(ids.count == 365)
                    // 09:00 in Paris: 08:00Z in winter, 07:00Z in summer (2026-03-29 to 2026-10-24).
                    for id in ["daily-2026-01-01T08:00:00Z", "daily-2026-03-28T08:00:00Z", "daily-2026-03-29T07:00:00Z",
                        "daily-2026-10-24T07:00:00Z", "daily-2026-10-25T08:00:00Z", "daily-2026-12-31T08:00:00Z"]
                    {
                        #expect(ids.contains(id), "missing \(id)")
                    }
                    let first = try await client.call("workflow/describe", ["workflowId": "daily-2026-01-01T08:00:00Z"])
                    #expect(first["input"] == ["kind": "summary"])
                }
            }
        }
    }

    /// A worker whose `sched.wait` workflow runs until it gets the signal `done`.
    static func waitingWorker(_ endpoint: Endpoint) -> Worker {
        let w = Worker(name: "sched-worker", endpoint: endpoint)
        w.workflow("sched.wait") { (_: JSONValue, ctx) -> JSONValue in
            let _: JSONValue = try await ctx.signal("done")
            return ["done": true]
        }
        return w
    }

    static func finish(_ client: KeelClient, _ workflowId: String) async throws {
        _ = try await client.call("workflow/signal", ["workflowId": .string(workflowId), "name": "done"])
        let result = try await client.call("workflow/result", ["workflowId": .string(workflowId), "waitTimeoutMs": 30_000])
        #expect(result["status"] == "completed", "\(result)")
    }

    static func status(_ client: KeelClient, _ workflowId: String) async throws -> String {
        try await client.call("workflow/describe", ["workflowId": .string(workflowId)])["status"]?.stringValue ?? ""
    }

    @Test(arguments: ["skip", "bufferOne", "cancelOther", "allowAll"])
    func anOverlapPolicyDecidesWhatASlotDoesWhileThePreviousRuns(policy: String) async throws {
        let clock = ManualClock()
        // Hourly slots, half an hour of room before slot 0: a loaded machine's delays cannot move one.
        let start = (clock.now() / Self.hour + 1) * Self.hour
        Self.set(clock, to: start - Self.hour / 2)
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await LiveOrchestrator.withWorker(Self.waitingWorker(endpoint)) {
                    try await KeelClient.withClient(endpoint) { client in
                        _ = try await client.createSchedule(
                            "hourly", spec: ["intervalMs": JSONValue(Self.hour)], action: ["workflow": "sched.wait"],
                            options: ["overlap": .string(policy)])
                        let slot: @Sendable (Int64) -> String = { k in "hourly-\(Self.iso(start + k * Self.hour))" }
                        clock.advance(byMs: Self.hour / 2)  // slot 0
                        var d = try await Self.started(client, "hourly", atLeast: 1)
                        #expect(d["runningWorkflowId"]?.stringValue == slot(0), "\(d)")
                        clock.advance(byMs: 3 * Self.hour)  // slots 1, 2, 3 while slot 0 runs
                        switch policy {
                        case "skip":
                            _ = try await eventually { try await Self.describe(client, "hourly")["skipped"] == 3 }
                            d = try await Self.describe(client, "hourly")
                            #expect(d["started"] == 1 && d["skipped"] == 3, "\(d)")
                            try await Self.finish(client, slot(0))
                            clock.advance(byMs: Self.hour)  // slot 4 starts: nothing runs
                            d = try await Self.started(client, "hourly", atLeast: 2)
                            #expect(d["runningWorkflowId"]?.stringValue == slot(4), "\(d)")
                        case "bufferOne":
                            _ = try await eventually { try await Self.describe(client, "hourly")["bufferedSlotMs"] != nil }
                            d = try await Self.describe(client, "hourly")
                            #expect(d["bufferedSlotMs"]?.int64Value == start + Self.hour && d["skipped"] == 2, "\(d)")
                            try await Self.finish(client, slot(0))  // the buffered slot 1 starts at once
                            d = try await Self.started(client, "hourly", atLeast: 2)
                            #expect(d["runningWorkflowId"]?.stringValue == slot(1) && d["bufferedSlotMs"] == nil, "\(d)")
                        case "cancelOther":
                            d = try await Self.started(client, "hourly", atLeast: 4)
                            #expect(d["runningWorkflowId"]?.stringValue == slot(3), "\(d)")
                            for k: Int64 in 0...2 {
                                _ = try await eventually { try await Self.status(client, slot(k)) == "cancelled" }
                                #expect(try await Self.status(client, slot(k)) == "cancelled", "\(slot(k))")
                            }
                        default:
                            d = try await Self.started(client, "hourly", atLeast: 4)
                            for k: Int64 in 0...3 { #expect(try await Self.status(client, slot(k)) != "cancelled") }
                            #expect(d["skipped"] == 0, "\(d)")
                        }
                    }
                }
            }
        }
    }

    @Test func slotsMissedForLongerThanTheCatchUpWindowAreSkipped() async throws {
        let clock = ManualClock()
        let start = (clock.now() / Self.hour + 1) * Self.hour
        // Half an hour before the first slot, and the window's edge half an hour from any slot: a
        // loaded machine's delays (seconds) cannot move a slot in or out of it.
        Self.set(clock, to: start - Self.hour / 2)
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    _ = try await client.createSchedule(
                        "catchup", spec: ["intervalMs": JSONValue(Self.hour)], action: ["workflow": "sched.none"],
                        options: ["overlap": "allowAll", "catchupWindowMs": JSONValue(Self.hour * 15 / 4)])
                    // Now half an hour past slot 47: 48 slots fell; the window (3 h 45 min) holds the
                    // last 4, its edge a quarter of an hour from slot 44.
                    clock.advance(byMs: 48 * Self.hour)
                    let d = try await Self.started(client, "catchup", atLeast: 4)
                    _ = try await eventually { try await Self.describe(client, "catchup")["skipped"] == 44 }
                    let after = try await Self.describe(client, "catchup")
                    #expect(after["started"] == 4 && after["skipped"] == 44, "\(after) (first look: \(d))")
                    #expect(Set(try await Self.workflowIds(client, name: "sched.none")) == Set((44...47).map {
                        "catchup-\(Self.iso(start + Int64($0) * Self.hour))"
                    }))
                }
            }
        }
    }

    @Test func pauseTriggerUnpauseAndDeleteDoWhatTheySay() async throws {
        let clock = ManualClock()
        // A quarter of an hour past an hourly slot: however slowly a loaded machine runs the steps
        // before the pause, no slot falls before it.
        Self.set(clock, to: Self.newYear + Self.hour / 4)
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir, clock: clock) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    _ = try await client.createSchedule(
                        "ops", spec: ["intervalMs": JSONValue(Self.hour)], action: ["workflow": "sched.none"],
                        options: ["overlap": "allowAll"])
                    let paused = try await client.schedule("pause", "ops", ["note": "maintenance"])
                    #expect(paused["paused"] == true && paused["note"] == "maintenance")
                    #expect(paused["nextActionTimesMs"] == [])
                    clock.advance(byMs: 10 * Self.hour)
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(try await Self.describe(client, "ops")["started"] == 0, "a paused schedule starts nothing")
                    let triggered = try await client.schedule("trigger", "ops")
                    #expect(ProtocolValidator.shared.checkResult(method: "schedule/trigger", result: triggered) == nil)
                    #expect(triggered["started"] == true, "\(triggered)")
                    #expect(try await Self.status(client, triggered["workflowId"]?.stringValue ?? "") == "pending")
                    let unpaused = try await client.schedule("unpause", "ops")
                    let next = unpaused["nextActionTimesMs"]?.arrayValue?.first?.int64Value ?? 0
                    #expect(next > clock.now() && next <= clock.now() + Self.hour, "the missed slots are not caught up")
                    #expect(unpaused["started"] == 1)
                    let listed = try await client.call("schedule/list", [:])
                    #expect(ProtocolValidator.shared.checkResult(method: "schedule/list", result: listed) == nil)
                    #expect(listed["schedules"]?.arrayValue?.map { $0["scheduleId"] } == ["ops"])
                    let deleted = try await client.schedule("delete", "ops")
                    #expect(deleted["deleted"] == true)
                    let gone = await #expect(throws: KeelError.self) { _ = try await client.schedule("describe", "ops") }
                    #expect(gone?.code == .scheduleNotFound)
                    #expect(try await Self.status(client, triggered["workflowId"]?.stringValue ?? "") == "pending",
                        "a deleted schedule's workflows keep going")
                }
            }
        }
    }

    @Test func aBadSpecIsRefusedNamingTheField() async throws {
        try await TemporaryDirectory.with { dir in
            try await LiveOrchestrator.with(in: dir) { endpoint, _ in
                try await KeelClient.withClient(endpoint) { client in
                    let cases: [(JSONValue, String)] = [
                        (["cron": "61 * * * *"], "spec.cron minute field"),
                        (["cron": "0 9 * *"], "needs 5 fields"),
                        (["cron": "0 9 * * FUNDAY"], "day-of-week field"),
                        (["cron": "0 9 * * *", "timeZone": "Mars/Olympus"], "spec.timeZone"),
                        (["intervalMs": 1500], "whole number of seconds"),
                        (["cron": "@daily", "intervalMs": 60_000], "both cron and intervalMs"),
                        ([:], "needs cron"),
                    ]
                    for (spec, expected) in cases {
                        let error = await #expect(throws: KeelError.self) {
                            _ = try await client.createSchedule("bad", spec: spec, action: ["workflow": "x"])
                        }
                        #expect(error?.code == .invalidParams, "\(spec)")
                        #expect(error?.message.contains(expected) == true, "\(spec): \(error?.message ?? "")")
                    }
                    let overlap = await #expect(throws: KeelError.self) {
                        _ = try await client.createSchedule("bad", spec: ["intervalMs": 60_000], action: ["workflow": "x"], options: ["overlap": "never"])
                    }
                    #expect(overlap?.code == .invalidParams)
                    let listed = try await client.call("schedule/list", [:])
                    #expect(listed["schedules"] == [], "nothing was stored")
                }
            }
        }
    }

    static func iso(_ ms: EpochMillis) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
