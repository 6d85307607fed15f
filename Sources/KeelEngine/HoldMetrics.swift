import Metrics

/// How held workflow steps' holds end (Engine+Steps.swift, `stepHoldExpired`):
/// `keel_step_hold_expiries_total{outcome}`, `suspended` (the run was told to suspend) or
/// `extended` (its activity still waits in this node's queue: held another `stepHoldMs`).
enum HoldMetrics {
    static let label = "keel_step_hold_expiries_total"

    static func suspended() { Counter(label: label, dimensions: [("outcome", "suspended")]).increment() }

    static func extended() { Counter(label: label, dimensions: [("outcome", "extended")]).increment() }
}
