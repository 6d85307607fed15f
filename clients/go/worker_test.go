package keel

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type greetIn struct {
	Name string `json:"name" keel:"required"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

type CrashError struct{}

func (*CrashError) Error() string { return "boom" }

func newTestWorker(socket string) *Worker {
	return NewWorker("test-worker", WorkerOptions{Socket: socket, MaxConcurrent: 4, NoSignalHandling: true,
		Logger: quietLogger(), DrainTimeout: 5 * time.Second})
}

func execute(t *testing.T, p *peer, name string, input string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var out json.RawMessage
	params := json.RawMessage(`{"taskId":"t-1","name":"` + name + `","input":` + input + `,"attempt":2,"idempotencyKey":"k-1",` +
		`"deadlineMs":4102444800000,"heartbeatTimeoutMs":null,"heartbeatDetails":{"page":0},"workflowId":null}`)
	if err := p.Call(ctx, "activity/execute", params, &out); err != nil {
		t.Fatalf("execute %s: %v", name, err)
	}
	return string(out)
}

func TestWorkerRegistersContractsFromTypesOptionsAndFiles(t *testing.T) {
	dir := t.TempDir()
	contract := `{"name":"billing.charge","version":"1","input":{"type":"object","required":["cents"]},"output":true,"description":"Charges."}`
	if err := os.WriteFile(filepath.Join(dir, "charge.json"), []byte(contract), 0o600); err != nil {
		t.Fatal(err)
	}
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	if err := w.LoadContracts(dir); err != nil {
		t.Fatal(err)
	}
	RegisterActivity(w, "greet.hello", func(ctx context.Context, in greetIn) (greetOut, error) { return greetOut{}, nil })
	RegisterActivity(w, "billing.charge", func(ctx context.Context, in map[string]any) (any, error) { return nil, nil })
	RegisterActivity(w, "retry", func(ctx context.Context, in json.RawMessage) (any, error) { return nil, nil },
		ActivityOptions{Description: "Retries.", RetryPolicy: &RetryPolicy{MaximumAttempts: UnlimitedAttempts,
			InitialInterval: time.Second, NonRetryableErrorTypes: []string{"BadInput"}},
			Timeouts: &Timeouts{StartToClose: 5 * time.Second, Heartbeat: 1500 * time.Millisecond}})
	RegisterWorkflow(w, "orders.fulfil", func(wf *WorkflowContext, in greetIn) (map[string]any, error) { return nil, nil })
	startWorker(t, w)
	p := nextPeer(t, peers)
	sameJSON(t, string(p.waitRegistered(t)), `{"name":"test-worker","language":"go","maxConcurrent":4,"activities":[
		{"name":"greet.hello",
		 "input":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]},
		 "output":{"type":"object","properties":{"greeting":{"type":"string"}}}},
		{"name":"billing.charge","description":"Charges.","input":{"type":"object","required":["cents"]},"output":true},
		{"name":"retry","description":"Retries.",
		 "retryPolicy":{"initialIntervalMs":1000,"maximumAttempts":0,"nonRetryableErrorTypes":["BadInput"]},
		 "timeouts":{"startToCloseMs":5000,"heartbeatTimeoutMs":1500}}],
		"workflows":[{"name":"orders.fulfil","input":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}],
		"maxConcurrentWorkflows":1000}`)
}

func TestWorkerRefusesBadNamesAndDuplicates(t *testing.T) {
	w := newTestWorker("unused")
	fn := func(ctx context.Context, in any) (any, error) { return nil, nil }
	RegisterActivity(w, "ok.name", fn)
	for _, name := range []string{"ok.name", "1bad", "has space"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q: want a panic", name)
				}
			}()
			RegisterActivity(w, name, fn)
		}()
	}
}

func TestWorkerReportsOutputsAndFailuresAsData(t *testing.T) {
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	RegisterActivity(w, "greet", func(ctx context.Context, in greetIn) (greetOut, error) {
		info := GetActivityInfo(ctx)
		return greetOut{Greeting: "Hello, " + in.Name + " " + info.IdempotencyKey + " " + string(info.HeartbeatDetails)}, nil
	})
	RegisterActivity(w, "fail", func(ctx context.Context, in any) (any, error) {
		return nil, &Failure{Type: "BadInput", Message: "no", NonRetryable: true, RetryAfter: 2 * time.Second, Details: in}
	})
	RegisterActivity(w, "crash", func(ctx context.Context, in any) (any, error) { return nil, &CrashError{} })
	RegisterActivity(w, "plain", func(ctx context.Context, in any) (any, error) { return nil, errors.New("plain") })
	RegisterActivity(w, "panic", func(ctx context.Context, in any) (any, error) { panic("oops") })
	startWorker(t, w)
	p := nextPeer(t, peers)
	p.waitRegistered(t)
	sameJSON(t, execute(t, p, "greet", `{"name":"Ada"}`), `{"output":{"greeting":"Hello, Ada k-1 {\"page\":0}"}}`)
	sameJSON(t, execute(t, p, "fail", `{"x":1}`), `{"failure":{"type":"BadInput","message":"no","retryable":false,"retryAfterMs":2000,"details":{"x":1}}}`)
	sameJSON(t, execute(t, p, "crash", `{}`), `{"failure":{"type":"CrashError","message":"boom","retryable":true,"details":null}}`)
	sameJSON(t, execute(t, p, "plain", `{}`), `{"failure":{"type":"Error","message":"plain","retryable":true,"details":null}}`)
	sameJSON(t, execute(t, p, "panic", `{}`), `{"failure":{"type":"Panic","message":"oops","retryable":true,"details":null}}`)
	got := execute(t, p, "greet", `{"name":5}`)
	if !strings.Contains(got, `"type":"InvalidInput"`) || !strings.Contains(got, `"retryable":false`) {
		t.Fatalf("bad input: %s", got)
	}
	if got := execute(t, p, "nope", `{}`); !strings.Contains(got, `"ActivityNotRegistered"`) {
		t.Fatalf("unknown activity: %s", got)
	}
}

func TestHeartbeatAndCancelNotificationCancelTheActivityContext(t *testing.T) {
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	RegisterActivity(w, "hb", func(ctx context.Context, in any) (string, error) {
		if cancelled, err := Heartbeat(ctx, map[string]int{"page": 1}); cancelled || err != nil {
			return "stopped early", err
		}
		<-ctx.Done() // until activity/cancel
		return "", ctx.Err()
	})
	startWorker(t, w)
	p := nextPeer(t, peers)
	p.waitRegistered(t)
	answer := make(chan string, 1)
	go func() { answer <- execute(t, p, "hb", `{}`) }()
	hb := p.next(t, "activity/heartbeat")
	sameJSON(t, string(hb.params), `{"taskId":"t-1","attempt":2,"details":{"page":1}}`)
	hb.answer(map[string]bool{"cancelled": false})
	time.Sleep(20 * time.Millisecond)
	if err := p.Notify("activity/cancel", map[string]any{"taskId": "t-1", "attempt": 2, "reason": "by client"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-answer:
		sameJSON(t, got, `{"failure":{"type":"Cancelled","message":"by client","retryable":false,"details":null}}`)
	case <-time.After(testTimeout):
		t.Fatal("cancel not delivered")
	}

	go func() { answer <- execute(t, p, "hb", `{}`) }()
	p.next(t, "activity/heartbeat").fail(&Error{Code: CodeAttemptSuperseded, Message: "superseded"})
	if got := <-answer; !strings.Contains(got, `"Cancelled"`) && !strings.Contains(got, "stopped early") {
		t.Fatalf("superseded heartbeat: %s", got)
	}
}

func TestWorkerReconnectsAndRegistersAgainWhenKeelRestarts(t *testing.T) {
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	RegisterActivity(w, "echo", func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
	startWorker(t, w)
	first := nextPeer(t, peers)
	first.waitRegistered(t)
	first.Close()
	second := nextPeer(t, peers)
	second.waitRegistered(t)
	sameJSON(t, execute(t, second, "echo", `{"a":1}`), `{"output":{"a":1}}`)
}

func TestStoppingDrainsRunningActivitiesAndRefusesNewOnes(t *testing.T) {
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	release := make(chan struct{})
	RegisterActivity(w, "wait", func(ctx context.Context, in any) (string, error) { <-release; return "done", nil })
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- w.Run(ctx) }()
	p := nextPeer(t, peers)
	p.waitRegistered(t)
	answer := make(chan string, 1)
	go func() { answer <- execute(t, p, "wait", `{}`) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	time.Sleep(50 * time.Millisecond)
	err := p.Call(context.Background(), "activity/execute", json.RawMessage(`{"taskId":"t-2","name":"wait","input":{},"attempt":1}`), nil)
	var rpc *Error
	if !errors.As(err, &rpc) || rpc.Code != CodeShuttingDown {
		t.Fatalf("work after stop: %v", err)
	}
	close(release)
	sameJSON(t, <-answer, `{"output":"done"}`)
	select {
	case err := <-errs:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Run did not return after draining")
	}
}
