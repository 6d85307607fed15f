import KeelCore

/// What a client is told when the work it queued has no connected worker to run it (issue 13):
/// the work stays queued (a worker may connect later), and the answer says so, with names a typo
/// may have meant.
extension Engine {
    /// `waitingForWorker` and `suggestions` for an activity task that is queued while no
    /// connected worker serves `name`; empty when one does.
    func activityWorkerHint(_ name: String) -> [String: JSONValue] {
        guard !registry.hasServer(for: name) else { return [:] }
        return Self.hint(NameSuggestions.suggestions(for: name, among: registry.contracts.keys))
    }

    /// Names close to `name` when no connected worker serves activity `name` (the answer's
    /// `suggestions`, with `waitingForWorker`); nil when one does.
    func activityWorkerSuggestions(_ name: String) -> [String]? {
        guard !registry.hasServer(for: name) else { return nil }
        return NameSuggestions.suggestions(for: name, among: registry.contracts.keys)
    }

    /// The same for a workflow execution waiting for a worker that serves workflow `name`; nil when one does.
    func workflowWorkerSuggestions(_ name: String) -> [String]? {
        guard !registry.hasWorkflowServer(for: name) else { return nil }
        return NameSuggestions.suggestions(for: name, among: registry.workflowContracts.keys)
    }

    /// The same for a workflow execution waiting for a worker that serves workflow `name`.
    func workflowWorkerHint(_ name: String) -> [String: JSONValue] {
        guard !registry.hasWorkflowServer(for: name) else { return [:] }
        return Self.hint(NameSuggestions.suggestions(for: name, among: registry.workflowContracts.keys))
    }

    private static func hint(_ suggestions: [String]) -> [String: JSONValue] {
        ["waitingForWorker": true, "suggestions": .array(suggestions.map { .string($0) })]
    }
}
