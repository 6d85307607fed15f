import KeelStorage
import Metrics

/// Payloads refused by a registered contract (docs/metrics.md):
/// `keel_contract_violations_total{kind, name, direction}`, kind `activity` or `workflow`,
/// direction `input` (refused before anything ran) or `output` (the run's result was refused).
/// Names share the activity and workflow name caps.
public enum ContractMetrics {
    /// The metric's name.
    public static let violations = "keel_contract_violations_total"

    enum Kind: String { case activity, workflow, update }

    private static let handles = MetricHandles { key in
        let parts = key.split(separator: "\u{0}", maxSplits: 2).map(String.init)
        return Counter(label: violations, dimensions: [("kind", parts[0]), ("name", parts[2]), ("direction", parts[1])])
    }

    /// Records one payload of `kind` `name` refused in `direction`.
    static func violated(_ kind: Kind, _ name: String, _ direction: ActivityContract.Side) {
        let label = kind == .activity ? ActivityMetrics.names.label(name) : WorkflowMetrics.names.label(name)
        handles("\(kind.rawValue)\u{0}\(direction.rawValue)\u{0}\(label)").increment()
    }
}
