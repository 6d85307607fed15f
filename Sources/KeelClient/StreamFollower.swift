public import KeelCore

/// Reads an execution's stream with `workflow/follow` long polls from an offset: each event
/// once, in offset order, until the execution has ended and its last event came
/// (docs/protocol.md, "Streams"). Over a ``ReconnectingClient`` a poll cut by a reconnect is
/// simply sent again from the last offset seen, so nothing is lost or repeated.
enum StreamFollower {
    static func follow(
        _ workflowId: String, afterOffset: Int64, waitTimeoutMs: Int64,
        call: @escaping @Sendable (String, JSONValue) async throws -> JSONValue
    ) -> AsyncThrowingStream<JSONValue, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var offset = afterOffset
                do {
                    while !Task.isCancelled {
                        let page = try await call(
                            "workflow/follow",
                            ["workflowId": .string(workflowId), "afterOffset": JSONValue(offset), "waitTimeoutMs": JSONValue(waitTimeoutMs)])
                        for event in page["events"]?.arrayValue ?? [] { continuation.yield(event) }
                        offset = page["nextOffset"]?.int64Value ?? offset
                        if page["done"]?.boolValue == true { break }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension KeelClient {
    /// Follows `workflowId`'s stream from after `afterOffset` (0: the start): each event
    /// (`{offset, name, event, atMs, source, …}`) once, in order; the sequence ends when the
    /// execution has ended and its last event came.
    public func follow(_ workflowId: String, afterOffset: Int64 = 0, waitTimeoutMs: Int64 = 30_000)
        -> AsyncThrowingStream<JSONValue, any Error>
    {
        StreamFollower.follow(workflowId, afterOffset: afterOffset, waitTimeoutMs: waitTimeoutMs) { method, params in
            try await self.call(method, params)
        }
    }
}

extension ReconnectingClient {
    /// ``KeelClient/follow(_:afterOffset:waitTimeoutMs:)`` across reconnects: a poll the
    /// connection dropped is sent again from the last offset seen.
    public nonisolated func follow(_ workflowId: String, afterOffset: Int64 = 0, waitTimeoutMs: Int64 = 30_000)
        -> AsyncThrowingStream<JSONValue, any Error>
    {
        StreamFollower.follow(workflowId, afterOffset: afterOffset, waitTimeoutMs: waitTimeoutMs) { method, params in
            try await self.call(method, params)
        }
    }
}
