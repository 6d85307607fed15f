import Foundation
import KeelCore

/// Small helpers for server-rendered HTML: escaping, times, JSON cells.
enum HTML {
    /// Escapes text for element content and quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Percent-encodes a query-string value.
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// `2026-12-04 20:14:03 UTC` from epoch milliseconds.
    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "–" }
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String { String(format: "%02d", v ?? 0) }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) UTC"
    }

    /// `850 ms`, `1.2 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`.
    static func duration(_ ms: Int64) -> String {
        let ms = max(0, ms)
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return String(format: "%.1f s", Double(ms) / 1000) }
        let s = ms / 1000
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        if s < 86_400 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        return "\(s / 86_400) d \(s % 86_400 / 3600) h"
    }

    /// A JSON value for a table cell, shortened to `limit` characters (the raw history has all).
    static func json(_ value: JSONValue?, limit: Int = 240) -> String {
        guard let value else { return "" }
        var text = JSONWriter.string(value)
        if text.count > limit { text = String(text.prefix(limit)) + "…" }
        return "<code>\(escape(text))</code>"
    }

    /// A status word as a coloured badge.
    static func badge(_ status: String) -> String {
        "<span class=\"badge s-\(escape(status))\">\(escape(status))</span>"
    }
}
