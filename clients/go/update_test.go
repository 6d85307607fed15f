package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// approveUpdate is the conformance wf.update: update "approve" answered with {"approved": amount},
// or rejected when the amount is over 100.
func approveUpdate(wf *WorkflowContext, in any) (map[string]bool, error) {
	u, err := wf.WaitForUpdate("approve", 0)
	if err != nil {
		return nil, err
	}
	var input struct {
		Amount int `json:"amount"`
	}
	if err := u.Decode(&input); err != nil {
		return nil, err
	}
	if input.Amount > 100 {
		if err := wf.Reject(u, fmt.Sprintf("amount %d is over 100", input.Amount)); err != nil {
			return nil, err
		}
		return map[string]bool{"approved": false}, nil
	}
	if err := wf.Respond(u, map[string]int{"approved": input.Amount}); err != nil {
		return nil, err
	}
	return map[string]bool{"approved": true}, nil
}

func TestWaitForUpdateAndRespondSendTwoStepsAndReplayFromTheJournal(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "approve", approveUpdate) })
	answer := runWorkflow(t, p, "approve", `{}`, `[]`, false)
	step := p.next(t, "workflow/step")
	// The receive step is a signal wait under "update:" + the name.
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"signal","name":"update:approve","input":{}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]any{"updateId": "u-1", "input": map[string]int{"amount": 5}}})
	step = p.next(t, "workflow/step")
	// The answer is named by the update's id, and the result goes under "result".
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"respond","name":"u-1",
		"input":{"result":{"approved":5}}}`)
	step.answer(map[string]any{"status": "completed", "result": nil})
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"approved":true}}`)
	noMoreSteps(t, p)

	answer = runWorkflow(t, p, "approve", `{}`, `[
		{"seq":1,"kind":"signal","name":"update:approve","status":"completed","result":{"updateId":"u-1","input":{"amount":5}}},
		{"seq":2,"kind":"respond","name":"u-1","status":"completed","result":null}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"approved":true}}`)
	noMoreSteps(t, p)
}

func TestRejectSendsARespondStepWithTheFailure(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "approve", approveUpdate) })
	answer := runWorkflow(t, p, "approve", `{}`, `[]`, false)
	p.next(t, "workflow/step").answer(map[string]any{"status": "completed",
		"result": map[string]any{"updateId": "u-2", "input": map[string]int{"amount": 500}}})
	step := p.next(t, "workflow/step")
	// Type "Rejected" by default; no details key when none are given, and no "retryable".
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"respond","name":"u-2",
		"input":{"failure":{"type":"Rejected","message":"amount 500 is over 100"}}}`)
	step.answer(map[string]any{"status": "completed", "result": nil})
	// A rejection is the update's answer; the workflow goes on and completes.
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"approved":false}}`)

	answer = runWorkflow(t, p, "approve", `{}`, `[
		{"seq":1,"kind":"signal","name":"update:approve","status":"completed","result":{"updateId":"u-2","input":{"amount":500}}},
		{"seq":2,"kind":"respond","name":"u-2","status":"completed","result":null}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"approved":false}}`)
	noMoreSteps(t, p)
}

func TestRejectWithATypeDetailsAndATimedWaitAndRespondWithNull(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "limits", func(wf *WorkflowContext, in any) (string, error) {
			u, err := wf.WaitForUpdate("order.approve", 1500*time.Millisecond)
			if err != nil {
				return "", err
			}
			if string(u.Input) != "null" || u.Name != "order.approve" || u.ID != "u-3" {
				return "", fmt.Errorf("got update %+v (input %s)", u, u.Input)
			}
			if err := wf.RejectWith(u, "OverLimit", "over the limit", map[string]int{"limit": 100}); err != nil {
				return "", err
			}
			return "", wf.Respond(Update{ID: "u-4"}, nil) // a bare id; nil is a null result
		})
	})
	answer := runWorkflow(t, p, "limits", `{}`, `[]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"signal","name":"update:order.approve",
		"input":{"timeoutMs":1500}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]any{"updateId": "u-3", "input": nil}})
	step = p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"respond","name":"u-3",
		"input":{"failure":{"type":"OverLimit","message":"over the limit","details":{"limit":100}}}}`)
	step.answer(map[string]any{"status": "completed", "result": nil})
	step = p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":3,"kind":"respond","name":"u-4","input":{"result":null}}`)
	step.answer(map[string]any{"status": "completed", "result": nil})
	sameJSON(t, await(t, answer), `{"status":"completed","output":""}`)
}

func TestWaitForUpdateTimedOutAndRespondWithoutAnIDSendsNothing(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "late", func(wf *WorkflowContext, in any) (string, error) {
			if err := wf.Respond(Update{Name: "approve"}, 1); err == nil || !strings.Contains(err.Error(), "Respond needs an update") {
				return "", fmt.Errorf("Respond without an id: %v", err)
			}
			if err := wf.Reject(Update{}, "no"); err == nil || !strings.Contains(err.Error(), "Reject needs an update") {
				return "", fmt.Errorf("Reject without an id: %v", err)
			}
			if err := wf.RejectWith(Update{}, "", "no", nil); err == nil || !strings.Contains(err.Error(), "RejectWith needs an update") {
				return "", fmt.Errorf("RejectWith without an id: %v", err)
			}
			_, err := wf.WaitForUpdate("approve", time.Second)
			if IsTimedOut(err) {
				return "timed out", nil
			}
			return "", err
		})
	})
	answer := runWorkflow(t, p, "late", `{}`, `[]`, false)
	step := p.next(t, "workflow/step") // seq 1: the id-less answers took no seq
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"signal","name":"update:approve","input":{"timeoutMs":1000}}`)
	step.answer(map[string]any{"status": "failed", "failure": map[string]any{"type": "TimedOut", "message": "no update within 1000 ms"}})
	sameJSON(t, await(t, answer), `{"status":"completed","output":"timed out"}`)
	noMoreSteps(t, p)
}

func TestUpdateDecode(t *testing.T) {
	var v struct{ Amount int }
	if err := (Update{ID: "u-1", Name: "approve", Input: json.RawMessage(`{"amount":7}`)}).Decode(&v); err != nil || v.Amount != 7 {
		t.Fatalf("got %+v, %v", v, err)
	}
	err := (Update{ID: "u-1", Name: "approve", Input: json.RawMessage(`"seven"`)}).Decode(&v)
	if err == nil || !strings.Contains(err.Error(), "update u-1 (approve)") {
		t.Fatalf("a bad input: %v", err)
	}
	if err := (Update{ID: "u-1"}).Decode(&v); err != nil { // no input: nothing to decode
		t.Fatal(err)
	}
}

// updateParams decodes workflow/update's params.
func updateParams(t *testing.T, in incoming) (params struct {
	WorkflowID    string          `json:"workflowId"`
	Name          string          `json:"name"`
	Input         json.RawMessage `json:"input"`
	UpdateID      string          `json:"updateId"`
	WaitTimeoutMs int64           `json:"waitTimeoutMs"`
}) {
	t.Helper()
	if err := json.Unmarshal(in.params, &params); err != nil {
		t.Fatal(err)
	}
	return params
}

func TestUpdateWorkflowSendsAFreshUUIDUpdateIDByDefaultAndDecodesTheAnswer(t *testing.T) {
	c, p, _ := signalPeer(t)
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		var r *UpdateResult
		done := callAsync(func(ctx context.Context) (err error) {
			r, err = c.UpdateWorkflow(ctx, "order-17", "approve", map[string]int{"amount": 5}, nil)
			return err
		})
		in := p.next(t, "workflow/update")
		params := updateParams(t, in)
		id := params.UpdateID
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("call %d: updateId %q is not a fresh lowercase UUID v4 (seen %v)", i, id, seen)
		}
		seen[id] = true
		// The wait defaults to the context's time left (testTimeout here), at most 60 s.
		if params.WaitTimeoutMs <= testTimeout.Milliseconds()-2000 || params.WaitTimeoutMs > testTimeout.Milliseconds() {
			t.Fatalf("call %d: waitTimeoutMs %d, want about %d", i, params.WaitTimeoutMs, testTimeout.Milliseconds())
		}
		sameJSON(t, string(in.params), fmt.Sprintf(`{"workflowId":"order-17","name":"approve","input":{"amount":5},
			"updateId":%q,"waitTimeoutMs":%d}`, id, params.WaitTimeoutMs))
		in.answer(map[string]any{"workflowId": "order-17", "updateId": id, "name": "approve", "status": "completed",
			"result": map[string]int{"approved": 5}})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if r.WorkflowID != "order-17" || r.UpdateID != id || r.Name != "approve" || r.Status != "completed" ||
			string(r.Result) != `{"approved":5}` || r.Failure != nil {
			t.Fatalf("call %d: got %+v (result %s)", i, r, r.Result)
		}
	}
}

func TestUpdateWorkflowSendsTheCallersOptionsAndReturnsRejectedPendingAndErrors(t *testing.T) {
	c, p, _ := signalPeer(t)
	var r *UpdateResult
	update := func(input any, opts *UpdateOptions) <-chan error {
		return callAsync(func(ctx context.Context) (err error) {
			r, err = c.UpdateWorkflow(ctx, "order-17", "order.approve", input, opts)
			return err
		})
	}

	// A rejection is an answer, not an error.
	done := update(map[string]int{"amount": 500}, &UpdateOptions{UpdateID: "u-1", WaitTimeoutMs: 500})
	in := p.next(t, "workflow/update")
	sameJSON(t, string(in.params), `{"workflowId":"order-17","name":"order.approve","input":{"amount":500},"updateId":"u-1","waitTimeoutMs":500}`)
	in.answer(map[string]any{"workflowId": "order-17", "updateId": "u-1", "name": "order.approve", "status": "rejected",
		"failure": map[string]any{"type": "Rejected", "message": "amount 500 is over 100", "details": map[string]int{"limit": 100}}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Status != "rejected" || r.Failure == nil || r.Failure.Type != "Rejected" || r.Failure.Message != "amount 500 is over 100" ||
		mustJSON(t, r.Failure.Details) != `{"limit":100}` || r.Result != nil {
		t.Fatalf("got %+v, failure %+v", r, r.Failure)
	}

	// No input is a null input; "pending" carries neither result nor failure.
	done = update(nil, &UpdateOptions{UpdateID: "u-2", WaitTimeoutMs: 1})
	in = p.next(t, "workflow/update")
	sameJSON(t, string(in.params), `{"workflowId":"order-17","name":"order.approve","input":null,"updateId":"u-2","waitTimeoutMs":1}`)
	in.answer(map[string]any{"workflowId": "order-17", "updateId": "u-2", "name": "order.approve", "status": "pending"})
	if err := <-done; err != nil || r.Status != "pending" || r.Result != nil || r.Failure != nil {
		t.Fatalf("got %+v, %v", r, err)
	}

	// Keel's errors come back as *Error: 1031 with its data.
	done = update(nil, &UpdateOptions{UpdateID: "u-2"})
	p.next(t, "workflow/update").fail(&Error{Code: CodeUpdateUnanswered, Message: "workflow order-17 completed without answering update u-2",
		Data: json.RawMessage(`{"workflowId":"order-17","updateId":"u-2","status":"completed"}`)})
	var rpc *Error // CodeUpdateUnanswered, pinned here by its number
	if err := <-done; !errors.As(err, &rpc) || rpc.Code != 1031 || string(rpc.Data) != `{"workflowId":"order-17","updateId":"u-2","status":"completed"}` {
		t.Fatalf("got %v, want code 1031 with its data", err)
	}

	// A negative wait is refused before anything is sent.
	if err := <-update(nil, &UpdateOptions{WaitTimeoutMs: -1}); err == nil {
		t.Fatal("a negative WaitTimeoutMs was taken")
	}
	noMoreSteps(t, p)
}

// An update in flight when the connection drops is sent again on the next connection with the
// same updateId (Keel then waits for the same update and delivers nothing new).
func TestAnUpdateInFlightIsSentAgainWithItsUpdateID(t *testing.T) {
	c, first, peers := signalPeer(t)
	var r *UpdateResult
	done := callAsync(func(ctx context.Context) (err error) {
		r, err = c.UpdateWorkflow(ctx, "order-17", "approve", "A", nil)
		return err
	})
	sent := updateParams(t, first.next(t, "workflow/update"))
	first.closer.Close() // Keel dies before answering
	second := nextPeer(t, peers)
	in := second.next(t, "workflow/update")
	if again := updateParams(t, in); again.UpdateID != sent.UpdateID || string(again.Input) != `"A"` || again.Name != "approve" {
		t.Fatalf("sent again as %s, first with updateId %q", in.params, sent.UpdateID)
	}
	in.answer(map[string]any{"workflowId": "order-17", "updateId": sent.UpdateID, "name": "approve", "status": "completed", "result": "ok"})
	if err := <-done; err != nil || r.Status != "completed" || string(r.Result) != `"ok"` {
		t.Fatalf("got %+v, %v", r, err)
	}

	// Without an update id (a raw call) it is not safe to repeat.
	if safeToRepeat("workflow/update", map[string]any{"workflowId": "order-17", "name": "approve"}) {
		t.Fatal("workflow/update without updateId is repeated")
	}
}
