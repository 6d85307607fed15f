import Foundation
import KeelCore

/// When a schedule's slots fall (docs/protocol.md, "Schedules"): a cron expression read in a
/// time zone, or a fixed interval from the epoch (plus an offset), and a jitter that delays each
/// start by a stable amount below it. Pure apart from the time zone database.
struct ScheduleSpec: Sendable {
    enum Calendar: Sendable {
        case cron(CronExpression, TimeZone)
        case interval(everyMs: Int64, offsetMs: Int64)
    }

    let calendar: Calendar
    let jitterMs: Int64
    /// The spec as given, normalized (defaults filled in), for describe.
    let json: JSONValue

    /// The longest interval and jitter: ten years.
    static let maximumMs: Int64 = 315_360_000_000

    /// Reads `spec` (`cron` or `intervalMs`, `timeZone?`, `offsetMs?`, `jitterMs?`).
    /// - Throws: `-32602` naming the field (`spec.cron`, `spec.timeZone` …) and what is wrong.
    init(_ spec: JSONValue, field: String = "spec") throws {
        guard case .object(let o) = spec else { throw Self.invalid(field, "must be an object with cron or intervalMs") }
        func millis(_ key: String, minimum: Int64) throws -> Int64? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let n = v.int64Value, n >= minimum, n <= Self.maximumMs else {
                throw Self.invalid("\(field).\(key)", "must be a whole number of milliseconds from \(minimum) to \(Self.maximumMs)")
            }
            return n
        }
        let cronText: String?
        if let v = o["cron"], !v.isNull {
            guard let text = v.stringValue else { throw Self.invalid("\(field).cron", "must be a string such as \"0 9 * * MON-FRI\"") }
            cronText = text
        } else {
            cronText = nil
        }
        let every = try millis("intervalMs", minimum: 1000)
        let offset = try millis("offsetMs", minimum: 0)
        jitterMs = try millis("jitterMs", minimum: 0) ?? 0
        var normalized: [String: JSONValue] = ["jitterMs": JSONValue(jitterMs)]
        switch (cronText, every) {
        case (let text?, nil):
            let zoneName: String
            if let v = o["timeZone"], !v.isNull {
                guard let name = v.stringValue else { throw Self.invalid("\(field).timeZone", "must be an IANA time zone name such as Europe/Paris") }
                zoneName = name
            } else {
                zoneName = "UTC"
            }
            guard let zone = TimeZone(identifier: zoneName) else {
                throw Self.invalid("\(field).timeZone", "\"\(zoneName)\" is not an IANA time zone name such as Europe/Paris")
            }
            if offset != nil { throw Self.invalid("\(field).offsetMs", "applies to intervalMs only") }
            let cron: CronExpression
            do { cron = try CronExpression(parsing: text) } catch { throw Self.invalid("\(field).cron", error.message) }
            calendar = .cron(cron, zone)
            normalized["cron"] = .string(text)
            normalized["timeZone"] = .string(zoneName)
        case (nil, let every?):
            guard every % 1000 == 0 else { throw Self.invalid("\(field).intervalMs", "must be a whole number of seconds (a multiple of 1000)") }
            if o["timeZone"].map({ !$0.isNull }) == true { throw Self.invalid("\(field).timeZone", "applies to cron only") }
            calendar = .interval(everyMs: every, offsetMs: offset ?? 0)
            normalized["intervalMs"] = JSONValue(every)
            normalized["offsetMs"] = JSONValue(offset ?? 0)
        case (.some, .some):
            throw Self.invalid(field, "has both cron and intervalMs; give one")
        case (nil, nil):
            throw Self.invalid(field, "needs cron (e.g. \"0 9 * * MON-FRI\") or intervalMs")
        }
        json = .object(JSONObject(normalized))
    }

    private static func invalid(_ field: String, _ problem: String) -> KeelError {
        KeelError(.invalidParams, "\(field) \(problem)", data: ["field": .string(field)])
    }

    /// The first slot strictly after `instant`, or nil when none comes within ten years (a cron
    /// for February 30th).
    func slot(after instant: EpochMillis) -> EpochMillis? {
        switch calendar {
        case .interval(let every, let offset):
            let k = (instant - offset).floorDivided(by: every) + 1
            return offset + k * every
        case .cron(let cron, let zone):
            return Self.nextCron(cron, zone, after: instant)
        }
    }

    /// When slot `slot` of schedule `scheduleId` starts: the slot plus its stable jitter.
    func fireTime(of slot: EpochMillis, scheduleId: String) -> EpochMillis {
        guard jitterMs > 0 else { return slot }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in scheduleId.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        for shift in stride(from: 0, to: 64, by: 8) { hash = (hash ^ UInt64(UInt64(bitPattern: slot) >> UInt64(shift) & 0xff)) &* 0x100_0000_01b3 }
        return slot + Int64(hash % UInt64(jitterMs))
    }

    // MARK: - Cron in a time zone

    private static func nextCron(_ cron: CronExpression, _ zone: TimeZone, after instant: EpochMillis) -> EpochMillis? {
        let afterSeconds = instant.floorDivided(by: 1000)
        let localStart = afterSeconds + Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(afterSeconds))))
        let startMinute = localStart.floorDivided(by: 60) + 1
        let firstDay = startMinute.floorDivided(by: 1440)
        for day in firstDay..<(firstDay + 366 * 10) {
            let (_, month, dayOfMonth) = CivilDate.from(days: day)
            guard cron.matches(month: month, day: dayOfMonth, weekday: CivilDate.weekday(days: day)) else { continue }
            let minuteOfDayFrom = day == firstDay ? Int(startMinute - firstDay * 1440) : 0
            for hour in cron.hours where hour * 60 + 59 >= minuteOfDayFrom {
                for minute in cron.minutes where hour * 60 + minute >= minuteOfDayFrom {
                    let local = (day * 1440 + Int64(hour * 60 + minute)) * 60
                    let utc = instantOf(local: local, zone)
                    if utc * 1000 > instant { return utc * 1000 }
                }
            }
        }
        return nil
    }

    /// The instant (epoch seconds) of wall-clock time `local` (seconds) in `zone`. A time that a
    /// daylight-saving change skips falls an hour later; one it repeats is its first occurrence.
    private static func instantOf(local: Int64, _ zone: TimeZone) -> Int64 {
        func offset(_ t: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))) }
        // The offsets in force a day either side cover any one change near `local`.
        let (before, after) = (offset(local - 86_400), offset(local + 86_400))
        let readings = [local - before, local - after].filter { $0 + offset($0) == local }
        if let first = readings.min() { return first }
        return local - min(before, after)
    }
}

/// Proleptic Gregorian dates from day numbers since 1970-01-01 (H. Hinnant's algorithms).
enum CivilDate {
    static func from(days z: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday).
    static func weekday(days z: Int64) -> Int { Int(((z % 7) + 11) % 7) }

    /// `2026-12-05T08:00:00Z` (or `…08:00:00.250Z` with `milliseconds`): an instant in UTC.
    static func iso(_ ms: EpochMillis, milliseconds: Bool) -> String {
        let seconds = ms.floorDivided(by: 1000)
        let days = seconds.floorDivided(by: 86_400)
        let inDay = Int(seconds - days * 86_400)
        let (year, month, day) = from(days: days)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let fraction = ms - seconds * 1000
        let millis = milliseconds ? "." + String(String(fraction + 1000).dropFirst()) : ""
        return "\(year)-\(two(month))-\(two(day))T\(two(inDay / 3600)):\(two(inDay / 60 % 60)):\(two(inDay % 60))\(millis)Z"
    }
}

extension Int64 {
    /// Division rounding towards negative infinity.
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
