import Foundation

/// The CSRF defence of every action: a same-origin check (the `Origin` header when the browser
/// sends one, else `Sec-Fetch-Site`) and the per-process secret that only pages of this server
/// carry in their forms' hidden `csrf` field.
struct ActionGuard: Sendable {
    let token: String

    /// Nil when the POST may proceed, else why it is refused (for the 403 page).
    func refusal(origin: String?, fetchSite: String?, host: String?, formToken: String?) -> String? {
        if let origin {
            guard let host, origin == "http://\(host)" || origin == "https://\(host)" else {
                return "the request came from another site (Origin \(origin))"
            }
        } else if let fetchSite, fetchSite != "same-origin", fetchSite != "none" {
            return "the request came from another site (Sec-Fetch-Site \(fetchSite))"
        }
        guard let formToken, WebAccess.same(formToken, token) else {
            return "the form's CSRF token is missing or wrong; reload the page and try again"
        }
        return nil
    }
}

/// `application/x-www-form-urlencoded` and query strings.
enum FormData {
    static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let key = parts.first else { continue }
            out[decode(key)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }
}
