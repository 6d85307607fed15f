import Foundation
@testable import KeelEngine
import KeelCore
import Testing

/// When slots fall: cron fields, time zones and daylight saving, intervals, jitter
/// (docs/protocol.md, "Schedules"). Pure, no I/O.
@Suite("Schedule specs")
struct ScheduleSpecTests {
    static func spec(_ json: JSONValue) throws -> ScheduleSpec { try ScheduleSpec(json) }

    static func iso(_ text: String) -> EpochMillis {
        EpochMillis(ISO8601DateFormatter().date(from: text)!.timeIntervalSince1970 * 1000)
    }

    /// The first `n` slots after `start`, as ISO strings.
    static func slots(_ spec: ScheduleSpec, after start: String, _ n: Int) -> [String] {
        var out: [String] = []
        var t = iso(start)
        while out.count < n, let next = spec.slot(after: t) {
            out.append(CivilDate.iso(next, milliseconds: false))
            t = next
        }
        return out
    }

    @Test func cronFieldsListsRangesStepsNamesAndMacros() throws {
        let weekdays = try Self.spec(["cron": "30 9 * * MON-FRI"])
        #expect(Self.slots(weekdays, after: "2026-12-04T10:00:00Z", 3) == [
            "2026-12-07T09:30:00Z", "2026-12-08T09:30:00Z", "2026-12-09T09:30:00Z",
        ])
        let stepped = try Self.spec(["cron": "*/20 8-9 * * *"])
        #expect(Self.slots(stepped, after: "2026-12-05T08:30:00Z", 4) == [
            "2026-12-05T08:40:00Z", "2026-12-05T09:00:00Z", "2026-12-05T09:20:00Z", "2026-12-05T09:40:00Z",
        ])
        let hourly = try Self.spec(["cron": "@hourly"])
        #expect(Self.slots(hourly, after: "2026-12-05T08:00:00Z", 2) == ["2026-12-05T09:00:00Z", "2026-12-05T10:00:00Z"])
        let leap = try Self.spec(["cron": "0 0 29 feb *"])
        #expect(Self.slots(leap, after: "2026-01-01T00:00:00Z", 2) == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"])
        // Both day fields restricted: either matches (the 1st, or any Sunday), as in Vixie cron.
        let either = try Self.spec(["cron": "0 12 1 * SUN"])
        #expect(Self.slots(either, after: "2026-11-28T00:00:00Z", 3) == [
            "2026-11-29T12:00:00Z", "2026-12-01T12:00:00Z", "2026-12-06T12:00:00Z",
        ])
        let sundaySeven = try Self.spec(["cron": "0 0 * * 7"])
        #expect(Self.slots(sundaySeven, after: "2026-12-05T00:00:00Z", 1) == ["2026-12-06T00:00:00Z"])
        let never = try Self.spec(["cron": "0 0 30 2 *"])
        #expect(never.slot(after: Self.iso("2026-01-01T00:00:00Z")) == nil, "February 30th never comes")
    }

    @Test func aCronReadInATimeZoneFollowsItsDaylightSavingChanges() throws {
        let paris = try Self.spec(["cron": "30 2 * * *", "timeZone": "Europe/Paris"])
        // 2027-03-28: 02:30 does not exist in Paris (02:00 → 03:00); it runs an hour later on the wall.
        #expect(Self.slots(paris, after: "2027-03-26T12:00:00Z", 3) == [
            "2027-03-27T01:30:00Z", "2027-03-28T01:30:00Z", "2027-03-29T00:30:00Z",
        ])
        // 2026-10-25: 02:30 happens twice (03:00 → 02:00); it runs once, at the first.
        #expect(Self.slots(paris, after: "2026-10-23T12:00:00Z", 3) == [
            "2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z",
        ])
        let newYork = try Self.spec(["cron": "0 9 * * *", "timeZone": "America/New_York"])
        #expect(Self.slots(newYork, after: "2026-11-01T00:00:00Z", 2) == ["2026-11-01T14:00:00Z", "2026-11-02T14:00:00Z"])
        #expect(Self.slots(newYork, after: "2026-10-31T00:00:00Z", 1) == ["2026-10-31T13:00:00Z"])
    }

    @Test func intervalsCountFromTheEpochPlusAnOffset() throws {
        let quarter = try Self.spec(["intervalMs": 900_000, "offsetMs": 300_000])
        #expect(Self.slots(quarter, after: "2026-12-05T08:05:00Z", 3) == [
            "2026-12-05T08:20:00Z", "2026-12-05T08:35:00Z", "2026-12-05T08:50:00Z",
        ])
        let second = try Self.spec(["intervalMs": 1000])
        #expect(second.slot(after: 1_500) == 2_000)
        #expect(second.slot(after: -1_500) == -1_000)
    }

    @Test func jitterIsBelowItsBoundAndTheSameForTheSameSlot() throws {
        let jittered = try Self.spec(["intervalMs": 60_000, "jitterMs": 30_000])
        var seen = Set<EpochMillis>()
        for k in Int64(1)...200 {
            let slot = k * 60_000
            let fire = jittered.fireTime(of: slot, scheduleId: "s")
            #expect(fire >= slot && fire < slot + 30_000)
            #expect(fire == jittered.fireTime(of: slot, scheduleId: "s"), "stable across restarts")
            seen.insert(fire - slot)
        }
        #expect(seen.count > 100, "spread over the window: \(seen.count) distinct delays")
        #expect(try Self.spec(["intervalMs": 60_000]).fireTime(of: 60_000, scheduleId: "s") == 60_000)
    }

    @Test func badSpecsNameTheirField() throws {
        let cases: [(JSONValue, String)] = [
            (["cron": "* * * *"], "spec.cron needs 5 fields"),
            (["cron": "0 24 * * *"], "spec.cron hour field \"24\": 24 is outside 0-23"),
            (["cron": "0 9 * * MON-"], "spec.cron day-of-week field"),
            (["cron": "5-1 * * * *"], "runs backwards"),
            (["cron": "*/0 * * * *"], "step \"0\""),
            (["cron": "@sometimes"], "unknown macro"),
            (["cron": "0 9 * * *", "timeZone": "Nowhere/Land"], "spec.timeZone"),
            (["cron": "0 9 * * *", "offsetMs": 5], "spec.offsetMs applies to intervalMs only"),
            (["intervalMs": 999], "spec.intervalMs"),
            (["intervalMs": 60_000, "timeZone": "UTC"], "spec.timeZone applies to cron only"),
            (["intervalMs": 60_000, "jitterMs": -1], "spec.jitterMs"),
            ("daily", "spec must be an object"),
        ]
        for (json, expected) in cases {
            do {
                _ = try Self.spec(json)
                Issue.record("\(json) was accepted")
            } catch let error as KeelError {
                #expect(error.code == .invalidParams)
                #expect(error.message.contains(expected), "\(json): \(error.message)")
            }
        }
    }
}
