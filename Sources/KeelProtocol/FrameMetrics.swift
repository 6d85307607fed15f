import Metrics

/// Inbound frames refused before any handler saw them (docs/metrics.md):
/// `keel_frames_rejected_total{reason}`, reason one of `oversize` (past the frame limit),
/// `malformed` (not JSON) and `invalid` (not a JSON-RPC message, an empty batch, or a batch
/// refused unread: too many items, or sent before `initialize`).
/// Rare by nature, so the counter is looked up per event.
public enum FrameMetrics {
    /// The metric's name.
    public static let rejected = "keel_frames_rejected_total"

    /// Why a frame was refused, as the `reason` label value.
    enum Reason: String { case oversize, malformed, invalid }

    static func rejected(_ reason: Reason) {
        Counter(label: rejected, dimensions: [("reason", reason.rawValue)]).increment()
    }
}
