package keel

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

type seqIn struct {
	N int `json:"n"`
}

// workflowPeer starts a worker serving the test workflows and returns Keel's side.
func workflowPeer(t *testing.T, register func(w *Worker)) *peer {
	t.Helper()
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	register(w)
	startWorker(t, w)
	p := nextPeer(t, peers)
	p.waitRegistered(t)
	return p
}

func sequence(wf *WorkflowContext, in seqIn) (seqIn, error) {
	var r1, r2 seqIn
	if err := wf.Activity("echo", seqIn{in.N}).Get(&r1); err != nil {
		return seqIn{}, err
	}
	if err := wf.Activity("echo", seqIn{r1.N + 1}, StepOptions{Timeouts: &Timeouts{StartToClose: time.Second}}).Get(&r2); err != nil {
		return seqIn{}, err
	}
	return r2, nil
}

// runWorkflow sends workflow/run and returns a channel with the answer.
func runWorkflow(t *testing.T, p *peer, name, input, journal string, cancelRequested bool) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		var answer json.RawMessage
		params := json.RawMessage(`{"workflowId":"wf-1","runId":3,"name":"` + name + `","input":` + input +
			`,"journal":` + journal + `,"cancelRequested":` + mustJSON(t, cancelRequested) + `}`)
		if err := p.Call(ctx, "workflow/run", params, &answer); err != nil {
			out <- "error: " + err.Error()
			return
		}
		out <- string(answer)
	}()
	return out
}

func await(t *testing.T, answer <-chan string) string {
	t.Helper()
	select {
	case a := <-answer:
		return a
	case <-time.After(testTimeout):
		t.Fatal("no workflow/run answer")
	}
	return ""
}

func TestWorkflowReplaysARecordedJournalWithoutSendingSteps(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "seq", sequence) })
	answer := runWorkflow(t, p, "seq", `{"n":1}`, `[
		{"seq":1,"kind":"activity","name":"echo","status":"completed","result":{"n":10}},
		{"seq":2,"kind":"activity","name":"echo","status":"completed","result":{"n":20}}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"n":20}}`)
}

func TestWorkflowSendsNewStepsFromTheNextSeqWithTheirRunID(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "seq", sequence) })
	answer := runWorkflow(t, p, "seq", `{"n":1}`, `[
		{"seq":1,"kind":"activity","name":"echo","status":"completed","result":{"n":10}},
		{"seq":2,"kind":"activity","name":"echo","status":"scheduled"}]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"activity","name":"echo",
		"input":{"n":11},"options":{"timeouts":{"startToCloseMs":1000}}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]int{"n": 11}})
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"n":11}}`)
}

func TestParallelStepsAreNumberedInProgramOrder(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "par", func(wf *WorkflowContext, in any) ([]int, error) {
			f1, f2 := wf.Activity("echo", 1), wf.Activity("echo", 2)
			var a, b int
			if err := f2.Get(&b); err != nil {
				return nil, err
			}
			if err := f1.Get(&a); err != nil {
				return nil, err
			}
			return []int{a, b, f1.Seq(), f2.Seq()}, nil
		})
	})
	answer := runWorkflow(t, p, "par", `{}`, `[]`, false)
	s1, s2 := p.next(t, "workflow/step"), p.next(t, "workflow/step")
	if !json.Valid(s1.params) || string(s1.params) == string(s2.params) {
		t.Fatal("two distinct steps expected")
	}
	var p1, p2 struct{ Seq, Input int }
	_ = json.Unmarshal(s1.params, &p1)
	_ = json.Unmarshal(s2.params, &p2)
	if p1.Seq == 2 { // the test peer's handlers run concurrently; the wire order is checked by conformance 32
		s1, s2, p1, p2 = s2, s1, p2, p1
	}
	if p1.Seq != 1 || p1.Input != 1 || p2.Seq != 2 || p2.Input != 2 {
		t.Fatalf("steps %s %s", s1.params, s2.params)
	}
	s2.answer(map[string]any{"status": "completed", "result": 20})
	s1.answer(map[string]any{"status": "completed", "result": 10})
	sameJSON(t, await(t, answer), `{"status":"completed","output":[10,20,1,2]}`)
}

func TestSuspendUnwindsTheFunctionRunningDefersButNoNewSteps(t *testing.T) {
	var deferred, after atomic.Int32
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "sleepy", func(wf *WorkflowContext, in any) (string, error) {
			defer func() {
				deferred.Add(1)
				_ = wf.Sleep(time.Hour) // a step while unwinding must not reach Keel
				after.Add(1)
			}()
			if err := wf.Sleep(2 * time.Second); err != nil {
				return "", err
			}
			var s string
			if err := wf.Signal("go", time.Minute, &s); err != nil {
				return "", err
			}
			return s, nil
		})
	})
	answer := runWorkflow(t, p, "sleepy", `null`, `[]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"sleep","name":"sleep","input":{"durationMs":2000}}`)
	step.answer(map[string]string{"status": "suspend"})
	sameJSON(t, await(t, answer), `{"status":"suspended"}`)
	if deferred.Load() != 1 || after.Load() != 0 {
		t.Fatalf("deferred %d, after the deferred step %d", deferred.Load(), after.Load())
	}
	select {
	case extra := <-p.requests:
		t.Fatalf("a step was sent while unwinding: %s", extra.params)
	case <-time.After(100 * time.Millisecond):
	}

	answer = runWorkflow(t, p, "sleepy", `null`, `[{"seq":1,"kind":"sleep","name":"sleep","status":"completed","result":null}]`, false)
	step = p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"signal","name":"go","input":{"timeoutMs":60000}}`)
	step.answer(map[string]any{"status": "failed", "failure": map[string]any{"type": "TimedOut", "message": "no signal"}})
	// Returning normally, the deferred step is a real step.
	p.next(t, "workflow/step").answer(map[string]any{"status": "completed", "result": nil})
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"TimedOut","message":"no signal","retryable":true,"details":null}}`)
}

func TestAJournalMismatchFailsTheRunWithNonDeterminism(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "seq", sequence) })
	answer := runWorkflow(t, p, "seq", `{"n":1}`, `[{"seq":1,"kind":"activity","name":"other","status":"completed","result":{}}]`, false)
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"NonDeterminism",
		"message":"step 1 is activity \"other\" in the journal but activity \"echo\" in the code","retryable":false,
		"details":{"seq":1,"journal":{"kind":"activity","name":"other"},"code":{"kind":"activity","name":"echo"}}}}`)

	answer = runWorkflow(t, p, "seq", `{"n":1}`, `[]`, false)
	p.next(t, "workflow/step").fail(&Error{Code: CodeNonDeterminism, Message: "parked", Data: json.RawMessage(`{"seq":1}`)})
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"NonDeterminism","message":"parked","retryable":false,"details":{"seq":1}}}`)
}

func TestCancelledIsCatchableForCompensationsAndEndsTheRunCancelled(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "cancellable", func(wf *WorkflowContext, in any) (any, error) {
			err := wf.Activity("work", nil).Get(nil)
			if IsCancelled(err) {
				if cerr := wf.Activity("compensate", nil).Get(nil); cerr != nil {
					return nil, cerr
				}
			}
			return nil, err
		})
	})
	answer := runWorkflow(t, p, "cancellable", `{}`, `[]`, true)
	p.next(t, "workflow/step").answer(map[string]any{"status": "failed",
		"failure": map[string]any{"type": "Cancelled", "message": "cancelled by client", "retryable": false}})
	p.next(t, "workflow/step").answer(map[string]any{"status": "completed", "result": nil})
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"Cancelled","message":"cancelled by client","retryable":false,"details":null}}`)
}

func TestContinueAsNewAndSideEffects(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "side", func(wf *WorkflowContext, in any) (any, error) {
			now, err := wf.Now()
			if err != nil {
				return nil, err
			}
			r, _ := wf.Random()
			u, _ := wf.UUID()
			return nil, wf.ContinueAsNew(map[string]any{"t": now.UnixMilli(), "r": r, "u": u})
		})
	})
	answer := runWorkflow(t, p, "side", `{}`, `[
		{"seq":1,"kind":"now","name":"now","status":"completed","result":1764190000000},
		{"seq":2,"kind":"random","name":"random","status":"completed","result":0.25}]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":3,"kind":"uuid","name":"uuid","input":{}}`)
	step.answer(map[string]any{"status": "completed", "result": "0b0e5c6e-1b7a-4c55-9a52-4b3c1c8f0a11"})
	sameJSON(t, await(t, answer), `{"status":"continueAsNew","input":{"t":1764190000000,"r":0.25,"u":"0b0e5c6e-1b7a-4c55-9a52-4b3c1c8f0a11"}}`)
}

func TestChildStepsCarryTheirInputAndOptionalID(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "parent", func(wf *WorkflowContext, in any) (any, error) {
			var out any
			err := wf.Child("kid", map[string]int{"n": 1}, "kid-1").Get(&out)
			return out, err
		})
	})
	answer := runWorkflow(t, p, "parent", `{}`, `[]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"child","name":"kid","input":{"input":{"n":1},"workflowId":"kid-1"}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]int{"n": 3}})
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"n":3}}`)
}

// A child step carries ChildOptions' search attributes and memo in its input, each only when not
// nil; without options (or with empty ones) the input is exactly as before.
func TestChildStepsCarrySearchAttributesAndMemoOnlyWhenGiven(t *testing.T) {
	for _, c := range []struct {
		name, id string
		opts     []ChildOptions
		want     string
	}{
		{"both", "kid-1", []ChildOptions{{SearchAttributes: map[string]any{"customer": "acme", "tier": 1},
			Memo: map[string]any{"source": "batch"}}},
			`{"input":{"n":1},"workflowId":"kid-1","searchAttributes":{"customer":"acme","tier":1},"memo":{"source":"batch"}}`},
		{"attributes, default id", "", []ChildOptions{{SearchAttributes: map[string]any{"customer": "acme"}}},
			`{"input":{"n":1},"searchAttributes":{"customer":"acme"}}`},
		{"memo only", "kid-1", []ChildOptions{{Memo: map[string]any{"source": "batch"}}},
			`{"input":{"n":1},"workflowId":"kid-1","memo":{"source":"batch"}}`},
		{"empty but given", "", []ChildOptions{{SearchAttributes: map[string]any{}, Memo: map[string]any{}}},
			`{"input":{"n":1},"searchAttributes":{},"memo":{}}`},
		{"zero options", "kid-1", []ChildOptions{{}}, `{"input":{"n":1},"workflowId":"kid-1"}`},
		{"no options", "", nil, `{"input":{"n":1}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := workflowPeer(t, func(w *Worker) {
				RegisterWorkflow(w, "parent", func(wf *WorkflowContext, in any) (any, error) {
					var out any
					err := wf.Child("kid", map[string]int{"n": 1}, c.id, c.opts...).Get(&out)
					return out, err
				})
			})
			answer := runWorkflow(t, p, "parent", `{}`, `[]`, false)
			step := p.next(t, "workflow/step")
			sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"child","name":"kid","input":`+c.want+`}`)
			step.answer(map[string]any{"status": "completed", "result": "done"})
			sameJSON(t, await(t, answer), `{"status":"completed","output":"done"}`)
		})
	}
}

func TestAWorkflowCancelNotificationEndsTheMatchingRunWhateverItsCodeDoes(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "busy", func(wf *WorkflowContext, in any) (any, error) {
			<-release // its own code: no step pending
			return nil, nil
		})
	})
	answer := runWorkflow(t, p, "busy", `{}`, `[]`, false)
	time.Sleep(50 * time.Millisecond)
	if err := p.Notify("workflow/cancel", map[string]any{"workflowId": "wf-1", "runId": 2, "reason": "another run"}); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answer:
		t.Fatalf("another run's notification ended this one: %s", a)
	case <-time.After(200 * time.Millisecond):
	}
	if err := p.Notify("workflow/cancel", map[string]any{"workflowId": "wf-1", "runId": 3, "reason": "terminated"}); err != nil {
		t.Fatal(err)
	}
	// Answered once unwindGrace passes (Keel ignores it): the slot is free again.
	sameJSON(t, await(t, answer), `{"status":"suspended"}`)
}

// A step with its own priority and fairness key sends them in options; a step that sets neither
// sends no options at all, so the execution's values apply (conformance 48).
func TestActivityStepSendsPriorityAndFairnessKeyOnlyWhenSet(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "prio", func(wf *WorkflowContext, in seqIn) ([]seqIn, error) {
			var r1, r2, r3 seqIn
			if err := wf.Activity("echo", in, StepOptions{Priority: Priority(7), FairnessKey: "tenant-a"}).Get(&r1); err != nil {
				return nil, err
			}
			if err := wf.Activity("echo", in, StepOptions{}).Get(&r2); err != nil {
				return nil, err
			}
			err := wf.Activity("echo", in, StepOptions{Priority: Priority(0), Timeouts: &Timeouts{StartToClose: time.Second}}).Get(&r3)
			return []seqIn{r1, r2, r3}, err
		})
	})
	answer := runWorkflow(t, p, "prio", `{"n":1}`, `[]`, false)
	step := p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"activity","name":"echo",
		"input":{"n":1},"options":{"priority":7,"fairnessKey":"tenant-a"}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]int{"n": 1}})
	step = p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"activity","name":"echo","input":{"n":1}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]int{"n": 2}})
	step = p.next(t, "workflow/step")
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":3,"kind":"activity","name":"echo",
		"input":{"n":1},"options":{"priority":0,"timeouts":{"startToCloseMs":1000}}}`)
	step.answer(map[string]any{"status": "completed", "result": map[string]int{"n": 3}})
	sameJSON(t, await(t, answer), `{"status":"completed","output":[{"n":1},{"n":2},{"n":3}]}`)
}
