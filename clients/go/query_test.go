package keel

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// reportProgress sets the query value "progress" twice, the second time to nil, and returns "done".
func reportProgress(wf *WorkflowContext, in any) (string, error) {
	if err := wf.SetQueryValue("progress", map[string]int{"pct": 50}); err != nil {
		return "", err
	}
	if err := wf.SetQueryValue("progress", nil); err != nil {
		return "", err
	}
	return "done", nil
}

func TestSetQueryValueSendsAQueryStepAndReplaysFromTheJournal(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "report", reportProgress) })
	answer := runWorkflow(t, p, "report", `{}`, `[]`, false)
	step := p.next(t, "workflow/step")
	// The value goes under "value", not bare.
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"query","name":"progress",
		"input":{"value":{"pct":50}}}`)
	step.answer(map[string]any{"status": "completed", "result": nil})
	step = p.next(t, "workflow/step")
	// A nil value is a JSON null under "value", still an object.
	sameJSON(t, string(step.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"query","name":"progress","input":{"value":null}}`)
	step.answer(map[string]any{"status": "completed", "result": nil})
	sameJSON(t, await(t, answer), `{"status":"completed","output":"done"}`)

	answer = runWorkflow(t, p, "report", `{}`, `[
		{"seq":1,"kind":"query","name":"progress","status":"completed","result":null},
		{"seq":2,"kind":"query","name":"progress","status":"completed","result":null}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":"done"}`)
	noMoreSteps(t, p)
}

func TestSetQueryValueReturnsTheStepsFailure(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "report", reportProgress) })
	answer := runWorkflow(t, p, "report", `{}`, `[]`, false)
	p.next(t, "workflow/step").answer(map[string]any{"status": "failed",
		"failure": map[string]any{"type": "InvalidQueryValue", "message": "too large", "retryable": false}})
	sameJSON(t, await(t, answer), `{"status":"failed","failure":{"type":"InvalidQueryValue","message":"too large","retryable":false,"details":null}}`)
	noMoreSteps(t, p)
}

// signalWithStartParams decodes a workflow/start's "signal" and fails the test without one.
func signalWithStartParams(t *testing.T, in incoming) (params struct {
	WorkflowID string `json:"workflowId"`
	Signal     *struct {
		Name      string          `json:"name"`
		Payload   json.RawMessage `json:"payload"`
		RequestID string          `json:"requestId"`
	} `json:"signal"`
}) {
	t.Helper()
	if err := json.Unmarshal(in.params, &params); err != nil {
		t.Fatal(err)
	}
	if params.Signal == nil {
		t.Fatalf("workflow/start without signal: %s", in.params)
	}
	return params
}

func TestSignalWithStartSendsTheSignalWithAFreshUUIDRequestIDByDefault(t *testing.T) {
	c, p, _ := signalPeer(t)
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		var s *Started
		done := callAsync(func(ctx context.Context) (err error) {
			s, err = c.SignalWithStart(ctx, "orders", map[string]any{}, "go", map[string]int{"n": 1},
				StartOptions{WorkflowID: "sws-1", Priority: Priority(5)})
			return err
		})
		in := p.next(t, "workflow/start")
		params := signalWithStartParams(t, in)
		id := params.Signal.RequestID
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("call %d: requestId %q is not a fresh lowercase UUID v4 (seen %v)", i, id, seen)
		}
		seen[id] = true
		sameJSON(t, string(in.params), `{"name":"orders","input":{},"workflowId":"sws-1","priority":5,
			"signal":{"name":"go","payload":{"n":1},"requestId":"`+id+`"}}`)
		in.answer(map[string]any{"workflowId": "sws-1", "status": "running", "started": i == 0,
			"signal": map[string]any{"delivered": true, "duplicate": false}})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s.Started != (i == 0) || s.Signal == nil || !s.Signal.Delivered || s.Signal.Duplicate {
			t.Fatalf("call %d: got %+v, signal %+v", i, s, s.Signal)
		}
	}
}

func TestSignalWithStartSendsTheCallersRequestIDAndNoPayloadWhenNil(t *testing.T) {
	c, p, _ := signalPeer(t)
	var s *Started
	done := callAsync(func(ctx context.Context) (err error) {
		s, err = c.SignalWithStart(ctx, "orders", nil, "go", nil, StartOptions{WorkflowID: "sws-1", SignalRequestID: "order-17-go"})
		return err
	})
	in := p.next(t, "workflow/start")
	sameJSON(t, string(in.params), `{"name":"orders","input":null,"workflowId":"sws-1","signal":{"name":"go","requestId":"order-17-go"}}`)
	in.answer(map[string]any{"workflowId": "sws-1", "status": "running", "started": false,
		"signal": map[string]any{"delivered": true, "duplicate": true}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.Started || !s.Signal.Duplicate {
		t.Fatalf("got %+v, signal %+v", s, s.Signal)
	}

	// An ended execution: the 1001 Keel answers comes back as the *Error.
	done = callAsync(func(ctx context.Context) (err error) {
		_, err = c.SignalWithStart(ctx, "orders", nil, "go", nil, StartOptions{WorkflowID: "sws-1"})
		return err
	})
	p.next(t, "workflow/start").fail(&Error{Code: CodeWorkflowNotFound, Message: "workflow sws-1 has ended"})
	var rpc *Error
	if err := <-done; !errors.As(err, &rpc) || rpc.Code != CodeWorkflowNotFound {
		t.Fatalf("got %v, want code 1001", err)
	}

	// StartWorkflow sends no signal, so it refuses a signal request id (and sends nothing).
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := c.StartWorkflow(ctx, "orders", nil, StartOptions{SignalRequestID: "x"}); err == nil {
		t.Fatal("StartWorkflow took a SignalRequestID")
	}
	noMoreSteps(t, p) // no request of any kind
}

func TestQueryWorkflowDecodesTheValueAndReturnsQueryNotFound(t *testing.T) {
	c, p, _ := signalPeer(t)
	var out struct {
		Pct int `json:"pct"`
	}
	done := callAsync(func(ctx context.Context) error { return c.QueryWorkflow(ctx, "wf-1", "progress", &out) })
	in := p.next(t, "workflow/query")
	sameJSON(t, string(in.params), `{"workflowId":"wf-1","name":"progress"}`)
	in.answer(map[string]any{"workflowId": "wf-1", "name": "progress", "value": map[string]int{"pct": 50},
		"seq": 2, "atMs": 1764900000000, "status": "running"})
	if err := <-done; err != nil || out.Pct != 50 {
		t.Fatalf("got %+v, %v", out, err)
	}

	// out may be nil: only whether the name is set matters.
	done = callAsync(func(ctx context.Context) error { return c.QueryWorkflow(ctx, "wf-1", "progress", nil) })
	p.next(t, "workflow/query").answer(map[string]any{"workflowId": "wf-1", "name": "progress", "value": "x",
		"seq": 2, "atMs": 1, "status": "completed"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	done = callAsync(func(ctx context.Context) error { return c.QueryWorkflow(ctx, "wf-1", "stage", &out) })
	p.next(t, "workflow/query").fail(&Error{Code: CodeQueryNotFound, Message: "workflow wf-1 has no query value stage",
		Data: json.RawMessage(`{"workflowId":"wf-1","name":"stage","known":["progress"]}`)})
	var rpc *Error // CodeQueryNotFound, pinned here by its number
	if err := <-done; !errors.As(err, &rpc) || rpc.Code != 1030 {
		t.Fatalf("got %v, want code 1030", err)
	}
}

// A query and a signal-with-start with a workflow id in flight when the connection drops are
// sent again on the next connection, the signal with the same request id.
func TestAQueryAndASignalWithStartInFlightAreSentAgain(t *testing.T) {
	c, first, peers := signalPeer(t)
	var s *Started
	done := callAsync(func(ctx context.Context) (err error) {
		s, err = c.SignalWithStart(ctx, "orders", nil, "go", "A", StartOptions{WorkflowID: "sws-1"})
		return err
	})
	sent := signalWithStartParams(t, first.next(t, "workflow/start"))
	first.closer.Close() // Keel dies before answering
	second := nextPeer(t, peers)
	in := second.next(t, "workflow/start")
	if again := signalWithStartParams(t, in); again.Signal.RequestID != sent.Signal.RequestID || string(again.Signal.Payload) != `"A"` {
		t.Fatalf("sent again as %s, first with requestId %q", in.params, sent.Signal.RequestID)
	}
	in.answer(map[string]any{"workflowId": "sws-1", "status": "running", "started": false,
		"signal": map[string]any{"delivered": true, "duplicate": true}})
	if err := <-done; err != nil || !s.Signal.Duplicate {
		t.Fatalf("got %+v, %v", s, err)
	}

	var value string
	done = callAsync(func(ctx context.Context) error { return c.QueryWorkflow(ctx, "sws-1", "stage", &value) })
	second.next(t, "workflow/query")
	second.closer.Close()
	third := nextPeer(t, peers)
	third.next(t, "workflow/query").answer(map[string]any{"workflowId": "sws-1", "name": "stage", "value": "packed",
		"seq": 1, "atMs": 1, "status": "running"})
	if err := <-done; err != nil || value != "packed" {
		t.Fatalf("got %q, %v", value, err)
	}
}
