/// A five-field cron expression — minute, hour, day of month, month, day of week — as Vixie cron
/// and Temporal read it (docs/protocol.md, "Schedules"): `*`, numbers, ranges `a-b`, steps `*/n`
/// and `a-b/n`, lists `a,b`, month names `JAN`…`DEC`, day names `SUN`…`SAT` (0 and 7 are Sunday),
/// and the macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
/// `@hourly`. When both day fields are restricted, a day matching either one matches.
///
/// Pure: the wall-clock fields it matches are turned into instants by ``ScheduleSpec``, which
/// knows the time zone.
struct CronExpression: Sendable, Equatable {
    let minutes: [Int]
    let hours: [Int]
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    /// 0 = Sunday … 6 = Saturday.
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// A field that does not parse, with where it is and why.
    struct ParseError: Error, Equatable {
        let message: String
    }

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    private static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingSpaces
        let expanded = Self.macros[trimmed.lowercased()] ?? trimmed
        if expanded.hasPrefix("@") {
            throw ParseError(message: "unknown macro \(trimmed); use @yearly, @monthly, @weekly, @daily or @hourly")
        }
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(message: "needs 5 fields (minute hour day-of-month month day-of-week), got \(fields.count)")
        }
        minutes = try Self.field(fields[0], "minute", 0...59, names: []).sorted()
        hours = try Self.field(fields[1], "hour", 0...23, names: []).sorted()
        daysOfMonth = try Self.field(fields[2], "day-of-month", 1...31, names: [])
        months = try Self.field(fields[3], "month", 1...12, names: Self.monthNames, firstName: 1)
        let weekdays = try Self.field(fields[4], "day-of-week", 0...7, names: Self.dayNames, firstName: 0)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*" && fields[2] != "?"
        dayOfWeekRestricted = fields[4] != "*" && fields[4] != "?"
    }

    /// Whether the calendar day matches the day-of-month, month and day-of-week fields.
    func matches(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(day) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return true
        }
    }

    private static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String], firstName: Int = 0)
        throws(ParseError) -> Set<Int>
    {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard pieces.count <= 2, !pieces[0].isEmpty else { throw ParseError(message: "\(name) field \"\(text)\": \"\(part)\" is not a value, range or step") }
            var step = 1
            if pieces.count == 2 {
                guard let n = Int(pieces[1]), n >= 1 else { throw ParseError(message: "\(name) field \"\(text)\": step \"\(pieces[1])\" must be a whole number ≥ 1") }
                step = n
            }
            let bounds: ClosedRange<Int>
            if pieces[0] == "*" || pieces[0] == "?" {
                bounds = range
            } else {
                let ends = pieces[0].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard ends.count <= 2 else { throw ParseError(message: "\(name) field \"\(text)\": \"\(pieces[0])\" is not a value or range") }
                let low = try value(ends[0], name, text, range, names, firstName)
                let high = ends.count == 2 ? try value(ends[1], name, text, range, names, firstName) : (pieces.count == 2 ? range.upperBound : low)
                guard low <= high else { throw ParseError(message: "\(name) field \"\(text)\": range \(pieces[0]) runs backwards") }
                bounds = low...high
            }
            values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return values
    }

    private static func value(
        _ token: String, _ name: String, _ text: String, _ range: ClosedRange<Int>, _ names: [String], _ firstName: Int
    ) throws(ParseError) -> Int {
        if let n = Int(token) {
            guard range.contains(n) else {
                throw ParseError(message: "\(name) field \"\(text)\": \(n) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return n
        }
        if let index = names.firstIndex(of: token.uppercased()) { return index + firstName }
        throw ParseError(message: "\(name) field \"\(text)\": \"\(token)\" is not a number\(names.isEmpty ? "" : " or a name such as \(names[0])")")
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
