import KeelCore
import KeelProtocol
import KeelStorage

/// Execution streams (docs/protocol.md, "Streams"): events a workflow (a `publish` step) or one
/// of its activities (`activity/publish`) appends, and `workflow/follow`, which reads them from
/// an offset and waits for more.
extension Engine {
    /// The most events one `workflow/follow` answers.
    static let followLimit = 1_000
    /// How long a follower waits between looks at the store, where another node may append.
    static let followPollMs: Int64 = 200

    /// `activity/publish`: an event from a running attempt of a workflow's activity.
    func publishFromActivity(_ value: JSONValue, session: Session) async throws -> JSONValue {
        let p = try Params(value, method: "activity/publish")
        let id = try p.string("taskId")
        let attempt = Int(try p.optionalInt("attempt", range: 0...Int64(Int32.max)) ?? 0)
        let name = try p.optionalString("name") ?? "event"
        let event = value["event"] ?? .null
        let echoed = try p.optionalString("attemptToken")
        guard let live = tasks[id], live.isRunning, attempt == 0 || attempt == live.record.attempt,
            Self.isHeldBy(live, session: session, token: echoed)
        else {
            throw KeelError(
                .attemptSuperseded, "attempt \(attempt) of task \(id) is not running on this connection; stop publishing",
                data: ["taskId": .string(id), "attempt": JSONValue(attempt)])
        }
        guard let workflowId = live.record.workflowId else {
            throw p.fail("taskId", "names a task called directly (activity/call); only a workflow's activities publish to its stream")
        }
        let published = StreamEvent(
            workflowId: workflowId, offset: 0, source: .activity(taskId: id, attempt: live.record.attempt), name: name,
            event: event, createdAt: clock.now())
        switch try await ledger.publish(published) {
        case .applied:
            streamAdvanced(workflowId)
            return [:]
        default:
            lateWriteRefused(id, what: "stream event of attempt \(live.record.attempt)")
            throw KeelError(
                .attemptSuperseded, "attempt \(live.record.attempt) of task \(id) ended; its event was not published",
                data: ["taskId": .string(id), "attempt": JSONValue(live.record.attempt)])
        }
    }

    /// `workflow/follow`: the events after `afterOffset`, waiting up to `waitTimeoutMs` for one.
    func followWorkflow(_ value: JSONValue) async throws -> JSONValue {
        let p = try Params(value, method: "workflow/follow")
        let id = try p.string("workflowId")
        let after = try p.optionalInt("afterOffset", range: 0...Int64.max) ?? 0
        let limit = Int(try p.optionalInt("limit", range: 1...Int64(Self.followLimit)) ?? 100)
        let timeout = try p.optionalInt("waitTimeoutMs", range: 0...300_000) ?? 0
        let deadline = clock.now().addingSaturating(timeout)
        while true {
            // What changed while this follower's reads were suspended (the engine serves other
            // requests meanwhile) would wake no one: it reads again instead of waiting.
            let changesSeen = streamChanges
            // The status first: an execution that had ended before the read has all its events in it.
            let record = try await requireWorkflow(id)
            let events = try await ledger.streamEvents(id, after: after, limit: limit)
            let now = clock.now()
            if !events.isEmpty || record.status.isTerminal || now >= deadline {
                let last = events.last?.offset ?? after
                return [
                    "workflowId": .string(id), "events": .array(events.map(\.json)), "nextOffset": JSONValue(last),
                    "status": .string(record.status.rawValue),
                    "done": .bool(record.status.isTerminal && events.count < limit),
                ]
            }
            if streamChanges != changesSeen { continue }
            let wakeAt = min(deadline, now.addingSaturating(Self.followPollMs))
            await waitForStream(id, until: wakeAt)
        }
    }

    /// Suspends until `id`'s stream grows or its execution ends here, or `time` passes.
    private func waitForStream(_ id: String, until time: EpochMillis) async {
        nextWaiterID += 1
        let waiterID = nextWaiterID
        timers.schedule(time, taskID: id, kind: .streamWaiterTimeout(waiterID: waiterID))
        await withCheckedContinuation { c in streamWaiters[id, default: [:]][waiterID] = c }
    }

    /// Wakes the followers of `id` waiting on this node: its stream grew or its execution ended.
    func streamAdvanced(_ id: String) {
        streamChanges &+= 1
        guard let list = streamWaiters.removeValue(forKey: id) else { return }
        for (_, c) in list { c.resume() }
    }

    /// A follower's wait ran out.
    func streamWaitEnded(_ id: String, waiterID: UInt64) {
        streamWaiters[id]?.removeValue(forKey: waiterID)?.resume()
        if streamWaiters[id]?.isEmpty == true { streamWaiters[id] = nil }
    }
}
