import KeelCore
import Testing

@testable import KeelMCP

/// `keel_follow_workflow`'s arguments, progress messages and answer (docs/mcp.md, "Following a workflow").
@Suite("MCP workflow follow")
struct WorkflowFollowTests {
    @Test func argumentsNeedAWorkflowIdAndABoundedTimeout() throws {
        let (id, timeout) = try WorkflowFollow.arguments(["workflowId": "o-1"])
        #expect(id == "o-1")
        #expect(timeout == .milliseconds(WorkflowFollow.defaultTimeoutMs))
        #expect(try WorkflowFollow.arguments(["workflowId": "o-1", "timeoutMs": 2500]).timeout == .milliseconds(2500))
        for bad: JSONValue in [[:], ["workflowId": ""], ["workflowId": "o-1", "timeoutMs": -1], ["workflowId": "o-1", "timeoutMs": "soon"]] {
            #expect(throws: KeelError.self) { try WorkflowFollow.arguments(bad) }
        }
    }

    @Test func aStepIsToldBySeqKindNameAndStatusWithItsAttemptPastTheFirst() {
        let entry: JSONValue = [
            "seq": 3, "kind": "activity", "name": "billing.charge", "status": "completed", "attempts": 1,
            "input": ["x": 1], "createdAtMs": 5,
        ]
        let step = WorkflowFollow.step(entry)
        #expect(step == ["seq": 3, "kind": "activity", "name": "billing.charge", "status": "completed", "attempts": 1])
        #expect(WorkflowFollow.message(step) == "step 3 activity billing.charge completed")
        #expect(
            WorkflowFollow.message(["seq": 1, "kind": "activity", "name": "a", "status": "scheduled", "attempts": 2])
                == "step 1 activity a scheduled, attempt 2")
    }

    @Test func theAnswerIsTheResultWithTheStepsInOrder() {
        let answer = WorkflowFollow.answer(
            ["workflowId": "o-1", "status": "completed", "output": 42],
            steps: [2: ["seq": 2], 1: ["seq": 1]], followed: "ended")
        #expect(answer["output"] == 42)
        #expect(answer["followed"] == "ended")
        #expect(answer["steps"] == [["seq": 1], ["seq": 2]])
    }

    @Test func aQuietFollowRepeatsItsLastMessageOnlyAfterTheInterval() {
        var report = ProgressReport(token: "t", tool: WorkflowTools.follow, every: .seconds(3600))
        #expect(report.repeatWhenQuiet() == nil)
        #expect(report.next(message: "step 1 signal approve scheduled") == "step 1 signal approve scheduled")
        #expect(report.repeatWhenQuiet() == nil)
        var eager = ProgressReport(token: "t", tool: WorkflowTools.follow, every: .zero)
        _ = eager.next(message: "step 1 signal approve scheduled")
        #expect(eager.repeatWhenQuiet() == "step 1 signal approve scheduled")
        #expect(eager.params("x")["progress"] == 2)
    }
}
