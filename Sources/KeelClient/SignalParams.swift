public import KeelCore
public import KeelProtocol
import Foundation

/// `workflow/signal` params carrying a `requestId` — a fresh UUID unless the caller gives one — so
/// that the same params sent again (after a dropped connection, or by a retrying caller) deliver
/// the signal once: Keel answers the resend `duplicate: true` (docs/clients.md, "Clients").
public enum SignalParams {
    /// The params, typed.
    public static func typed(workflowId: String, name: String, payload: JSONValue, requestId: String? = nil)
        -> WorkflowSignalParams
    {
        WorkflowSignalParams(
            workflowId: workflowId, name: name, payload: payload, requestId: requestId ?? UUID().uuidString.lowercased())
    }

    /// The params as JSON.
    public static func make(workflowId: String, name: String, payload: JSONValue, requestId: String? = nil) -> JSONValue {
        typed(workflowId: workflowId, name: name, payload: payload, requestId: requestId).json
    }
}

/// `workflow/update` params carrying an `updateId` — a fresh UUID unless the caller gives one — so
/// that the same params sent again deliver the update once and wait for its one answer
/// (docs/protocol.md, "Updates").
public enum UpdateParams {
    /// The params, typed.
    public static func typed(
        workflowId: String, name: String, input: JSONValue, updateId: String? = nil, waitTimeoutMs: Int64? = nil
    ) -> WorkflowUpdateParams {
        WorkflowUpdateParams(
            workflowId: workflowId, name: name, input: input, updateId: updateId ?? UUID().uuidString.lowercased(),
            waitTimeoutMs: waitTimeoutMs)
    }

    /// The params as JSON.
    public static func make(
        workflowId: String, name: String, input: JSONValue, updateId: String? = nil, waitTimeoutMs: Int64? = nil
    ) -> JSONValue {
        typed(workflowId: workflowId, name: name, input: input, updateId: updateId, waitTimeoutMs: waitTimeoutMs).json
    }
}
