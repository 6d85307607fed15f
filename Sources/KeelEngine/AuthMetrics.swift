import KeelStorage
import Metrics

/// Failed token checks at `initialize` (docs/metrics.md): `keel_auth_failures_total{transport, reason}`.
/// Both labels are from fixed sets (unix, tcp, stdio; no_token, unknown_token).
public enum AuthMetrics {
    /// The metric's name.
    public static let failures = "keel_auth_failures_total"

    private static let handles = MetricHandles { key in
        let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
        return Counter(label: failures, dimensions: [("transport", parts[0]), ("reason", parts.count > 1 ? parts[1] : "")])
    }

    /// Records one failed token check on `transport`; `sentToken` tells an unknown token from none.
    static func failed(transport: String, sentToken: Bool) {
        handles("\(transport) \(sentToken ? "unknown_token" : "no_token")").increment()
    }
}
