/// The names whose shared work may wait unclaimed for a slot of this node (a cluster node's
/// engine, Engine+Cluster.swift): tasks or executions it stored unclaimed itself, or names whose
/// last claim took all it asked for or found no free slot.
///
/// A node's own ends send no wake-up hint to itself (docs/scaling.md, "What a round trip costs
/// today"), so a slot that frees for one of these names asks for a claim round at once instead
/// of waiting for the next poll.
struct ClaimBacklog {
    private(set) var activities: Set<String> = []
    private(set) var workflows: Set<String> = []

    /// Work of activity `name` may wait.
    mutating func activityMayWait(_ name: String) { activities.insert(name) }
    /// Executions of workflow `name` may wait.
    mutating func workflowMayWait(_ name: String) { workflows.insert(name) }

    /// A claim of `name` asked for `asked` (0: no free slot, nothing asked) and got `got`.
    mutating func claimedActivities(_ name: String, asked: Int, got: Int) {
        if asked == 0 || got >= asked { activities.insert(name) } else { activities.remove(name) }
    }

    /// As ``claimedActivities(_:asked:got:)`` for executions of workflow `name`.
    mutating func claimedWorkflows(_ name: String, asked: Int, got: Int) {
        if asked == 0 || got >= asked { workflows.insert(name) } else { workflows.remove(name) }
    }

    /// True when a freed slot of a worker serving these names (nil: unknown, any) may find work.
    func mayHaveWork(activities served: [String]?, workflows servedWorkflows: [String]?) -> Bool {
        guard let served, let servedWorkflows else { return !activities.isEmpty || !workflows.isEmpty }
        return served.contains(where: activities.contains) || servedWorkflows.contains(where: workflows.contains)
    }
}
