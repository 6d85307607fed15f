package keel

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
)

// signalPeer dials a client to a scripted Keel and returns both.
func signalPeer(t *testing.T) (*Client, *peer, <-chan *peer) {
	t.Helper()
	socket, peers := socketPeer(t)
	c := dialKeel(t, ClientOptions{Socket: socket})
	return c, nextPeer(t, peers), peers
}

type signalOutcome struct {
	s   *Signaled
	err error
}

func signalAsync(c *Client, id, name string, payload any, opts SignalOptions) <-chan signalOutcome {
	done := make(chan signalOutcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s, err := c.SignalWorkflowWithOptions(ctx, id, name, payload, opts)
		done <- signalOutcome{s, err}
	}()
	return done
}

func signalParams(t *testing.T, in incoming) (params struct {
	WorkflowID string          `json:"workflowId"`
	Name       string          `json:"name"`
	Payload    json.RawMessage `json:"payload"`
	RequestID  *string         `json:"requestId"`
}) {
	t.Helper()
	if err := json.Unmarshal(in.params, &params); err != nil {
		t.Fatal(err)
	}
	if params.RequestID == nil {
		t.Fatalf("workflow/signal without requestId: %s", in.params)
	}
	return params
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSignalWorkflowSendsAFreshUUIDRequestIDByDefault(t *testing.T) {
	c, p, _ := signalPeer(t)
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		i, done := i, make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			done <- c.SignalWorkflow(ctx, "wf-1", "approve", map[string]int{"n": i})
		}()
		in := p.next(t, "workflow/signal")
		params := signalParams(t, in)
		if !uuidV4.MatchString(*params.RequestID) || seen[*params.RequestID] {
			t.Fatalf("signal %d: requestId %q is not a fresh lowercase UUID v4 (seen %v)", i, *params.RequestID, seen)
		}
		seen[*params.RequestID] = true
		sameJSON(t, string(params.Payload), mustJSON(t, map[string]int{"n": i}))
		in.answer(map[string]any{"delivered": true, "consumed": false, "duplicate": false})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestSignalWorkflowWithOptionsSendsTheCallersRequestIDAndReturnsDuplicate(t *testing.T) {
	c, p, _ := signalPeer(t)
	done := signalAsync(c, "wf-1", "approve", nil, SignalOptions{RequestID: "order-17-approval"})
	in := p.next(t, "workflow/signal")
	sameJSON(t, string(in.params), `{"workflowId":"wf-1","name":"approve","requestId":"order-17-approval"}`)
	in.answer(map[string]any{"delivered": true, "duplicate": true})
	o := <-done
	if o.err != nil || !o.s.Delivered || !o.s.Duplicate || o.s.Consumed {
		t.Fatalf("got %+v, %v", o.s, o.err)
	}

	done = signalAsync(c, "wf-1", "approve", "B", SignalOptions{})
	in = p.next(t, "workflow/signal")
	if params := signalParams(t, in); !uuidV4.MatchString(*params.RequestID) || string(params.Payload) != `"B"` {
		t.Fatalf("default options sent %s", in.params)
	}
	in.answer(map[string]any{"delivered": true, "consumed": true, "duplicate": false})
	if o := <-done; o.err != nil || !o.s.Delivered || o.s.Duplicate || !o.s.Consumed {
		t.Fatalf("got %+v, %v", o.s, o.err)
	}
}

// callAsync runs fn with a test deadline and returns its error on a channel.
func callAsync(fn func(ctx context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done <- fn(ctx)
	}()
	return done
}

func TestCallActivitySendsPriorityAndFairnessKeyOnlyWhenSet(t *testing.T) {
	c, p, _ := signalPeer(t)
	for _, tc := range []struct {
		opts CallOptions
		want string
	}{
		{CallOptions{NoWait: true, Priority: Priority(9), FairnessKey: "tenant-a"},
			`{"name":"echo","input":1,"wait":false,"priority":9,"fairnessKey":"tenant-a"}`},
		{CallOptions{NoWait: true, Priority: Priority(0)}, `{"name":"echo","input":1,"wait":false,"priority":0}`},
		{CallOptions{NoWait: true, Priority: Priority(-1000)}, `{"name":"echo","input":1,"wait":false,"priority":-1000}`},
		{CallOptions{NoWait: true, FairnessKey: "b"}, `{"name":"echo","input":1,"wait":false,"fairnessKey":"b"}`},
		{CallOptions{NoWait: true}, `{"name":"echo","input":1,"wait":false}`},
	} {
		done := callAsync(func(ctx context.Context) error {
			_, err := c.CallActivity(ctx, "echo", 1, tc.opts)
			return err
		})
		in := p.next(t, "activity/call")
		sameJSON(t, string(in.params), tc.want)
		in.answer(map[string]any{"taskId": "t-1", "status": "scheduled", "attempts": 0})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	// Waiting: the keys go with the call as well.
	done := callAsync(func(ctx context.Context) error {
		_, err := c.CallActivity(ctx, "echo", 1, CallOptions{Priority: Priority(3), FairnessKey: "k"})
		return err
	})
	in := p.next(t, "activity/call")
	var params map[string]any
	if err := json.Unmarshal(in.params, &params); err != nil {
		t.Fatal(err)
	}
	if params["priority"] != float64(3) || params["fairnessKey"] != "k" || params["wait"] != true {
		t.Fatalf("a waiting call sent %s", in.params)
	}
	in.answer(map[string]any{"taskId": "t-2", "status": "completed", "attempts": 1, "output": 1})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStartWorkflowSendsPriorityAndFairnessKeyOnlyWhenSet(t *testing.T) {
	c, p, _ := signalPeer(t)
	for _, tc := range []struct {
		opts StartOptions
		want string
	}{
		{StartOptions{WorkflowID: "wf-1", Priority: Priority(5), FairnessKey: "acme"},
			`{"name":"orders","input":{},"workflowId":"wf-1","priority":5,"fairnessKey":"acme"}`},
		{StartOptions{Priority: Priority(0)}, `{"name":"orders","input":{},"priority":0}`},
		{StartOptions{}, `{"name":"orders","input":{}}`},
	} {
		done := callAsync(func(ctx context.Context) error {
			_, err := c.StartWorkflow(ctx, "orders", map[string]any{}, tc.opts)
			return err
		})
		in := p.next(t, "workflow/start")
		sameJSON(t, string(in.params), tc.want)
		in.answer(map[string]any{"workflowId": "wf-1", "status": "running", "started": true})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDescribeWorkflowDecodesPriorityAndFairnessKey(t *testing.T) {
	c, p, _ := signalPeer(t)
	var d *WorkflowDescription
	done := callAsync(func(ctx context.Context) (err error) {
		d, err = c.DescribeWorkflow(ctx, "wf-1")
		return err
	})
	p.next(t, "workflow/describe").answer(map[string]any{"workflowId": "wf-1", "name": "orders", "status": "running",
		"runId": 1, "input": map[string]any{}, "createdAtMs": 1, "updatedAtMs": 1, "priority": 5, "fairnessKey": "acme"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d.Priority != 5 || d.FairnessKey != "acme" {
		t.Fatalf("got priority %d, fairnessKey %q", d.Priority, d.FairnessKey)
	}
}
