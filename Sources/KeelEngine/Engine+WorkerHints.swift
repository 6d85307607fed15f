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

    /// True when a worker serves activity `name`: one connected here, or (on a shared store) one
    /// that another live node published (``clusterWorkers(_:)``).
    func servedAnywhere(activity name: String) async throws -> Bool {
        if registry.hasServer(for: name) { return true }
        return try await publishedElsewhere(serving: name, in: "activities")
    }

    /// The same for workflow `name`.
    func servedAnywhere(workflow name: String) async throws -> Bool {
        if registry.hasWorkflowServer(for: name) { return true }
        return try await publishedElsewhere(serving: name, in: "workflows")
    }

    /// Whether a worker another live node published lists `name` under `field`; false off a cluster.
    private func publishedElsewhere(serving name: String, in field: String) async throws -> Bool {
        return try await clusterWorkers([]).contains { $0[field]?.arrayValue?.contains(.string(name)) == true }
    }

    private static func hint(_ suggestions: [String]) -> [String: JSONValue] {
        ["waitingForWorker": true, "suggestions": .array(suggestions.map { .string($0) })]
    }
}
