package keel

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// backWithin is generous: CI runs on 2 busy cores; the backoff cap itself is 2 s.
const backWithin = 15 * time.Second

// restartableKeel is a `keel serve` that a test kills with SIGKILL and starts again on the same
// socket and database (docs/clients.md "Reconnecting", Tests).
type restartableKeel struct {
	t        *testing.T
	bin, dir string
	socket   string
	cmd      *exec.Cmd
	exited   chan struct{}
}

func newRestartableKeel(t *testing.T) *restartableKeel {
	bin := keelBinary(t)
	dir, err := os.MkdirTemp("", "kr")
	if err != nil {
		t.Fatal(err)
	}
	k := &restartableKeel{t: t, bin: bin, dir: dir, socket: filepath.Join(dir, "k.sock")}
	t.Cleanup(func() {
		k.stop()
		os.RemoveAll(dir)
	})
	k.start()
	return k
}

func (k *restartableKeel) start() {
	k.t.Helper()
	k.cmd = exec.Command(k.bin, "serve", "--db", filepath.Join(k.dir, "keel.db"), "--socket", k.socket, "--sync", "normal")
	if err := k.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	exited := make(chan struct{})
	k.exited = exited
	cmd := k.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(backWithin); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", k.socket); err == nil { // after a kill -9 the old file is still there
			c.Close()
			return
		}
	}
	k.t.Fatalf("keel serve did not bind %s", k.socket)
}

func (k *restartableKeel) kill9() {
	_ = k.cmd.Process.Signal(syscall.SIGKILL)
	<-k.exited
}

func (k *restartableKeel) stop() {
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(5 * time.Second):
		k.kill9()
	}
}

// reconnectSetup starts keel serve, a worker serving echo and slow, and a client.
func reconnectSetup(t *testing.T) (*restartableKeel, *Client) {
	k := newRestartableKeel(t)
	w := newTestWorker(k.socket)
	RegisterActivity(w, "echo", func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
	RegisterActivity(w, "slow", func(ctx context.Context, in struct{ Ms int }) (any, error) {
		select {
		case <-time.After(time.Duration(in.Ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return in, nil
	})
	startWorker(t, w)
	c := dialKeel(t, ClientOptions{Socket: k.socket})
	waitWorkers(t, c, func(w workerInfo) bool { return w.Name == "test-worker" }, "the worker to register")
	return k, c
}

type workerInfo struct {
	Name     string `json:"name"`
	InFlight int    `json:"inFlight"`
}

func waitWorkers(t *testing.T, c *Client, match func(workerInfo) bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(backWithin); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), backWithin)
		listed, err := c.Workers(ctx)
		cancel()
		if err != nil {
			t.Fatalf("worker/list: %v", err)
		}
		for _, raw := range listed {
			var w workerInfo
			if json.Unmarshal(raw, &w) == nil && match(w) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestReconnectClientMakesItsNextCallAfterKeelRestarts(t *testing.T) {
	k, c := reconnectSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*backWithin)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	k.kill9()
	done := make(chan error, 1)
	go func() { _, err := c.Workers(ctx); done <- err }() // sent while Keel is down
	time.Sleep(500 * time.Millisecond)
	k.start()
	if err := <-done; err != nil {
		t.Fatalf("a call made while Keel was down: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReconnectWorkerServesAgainSoonAfterKeelComesBack(t *testing.T) {
	k, c := reconnectSetup(t)
	k.kill9()
	time.Sleep(3 * time.Second) // the worker keeps failing: its backoff grows to the cap
	k.start()
	waitWorkers(t, c, func(w workerInfo) bool { return w.Name == "test-worker" }, "the worker to re-register")
	ctx, cancel := context.WithTimeout(context.Background(), 2*backWithin)
	defer cancel()
	r, err := c.CallActivity(ctx, "echo", map[string]string{"after": "restart"}, CallOptions{})
	if err != nil || r.Status != "completed" || string(r.Output) != `{"after":"restart"}` {
		t.Fatalf("after restart: %+v, %v", r, err)
	}
}

func TestReconnectCallInFlightWithoutKeyFailsWithOutcomeUnknown(t *testing.T) {
	k, c := reconnectSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*backWithin)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.CallActivity(ctx, "slow", map[string]int{"ms": 3000}, CallOptions{}); done <- err }()
	waitWorkers(t, c, func(w workerInfo) bool { return w.InFlight > 0 }, "the call to run")
	k.kill9()
	err := <-done
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrOutcomeUnknown", err)
	}
	k.start()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReconnectCallInFlightWithKeyIsSentAgainAndCompletes(t *testing.T) {
	k, c := reconnectSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*backWithin)
	defer cancel()
	type outcome struct {
		r   *ActivityResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := c.CallActivity(ctx, "slow", map[string]int{"ms": 1500}, CallOptions{IdempotencyKey: "go-k1"})
		done <- outcome{r, err}
	}()
	waitWorkers(t, c, func(w workerInfo) bool { return w.InFlight > 0 }, "the call to run")
	k.kill9()
	time.Sleep(300 * time.Millisecond)
	k.start()
	o := <-done
	if o.err != nil || o.r.Status != "completed" {
		t.Fatalf("got %+v, %v", o.r, o.err)
	}
}

func TestBackoffIsFullJitterCappedAndResets(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	for i := 0; i < 40; i++ {
		if d := b.next(); d < 0 || d > time.Second || (i == 0 && d > 100*time.Millisecond) {
			t.Fatalf("wait %d: %s", i, d)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %s", d)
	}
}

func TestOnlyReadsAndKeyedCallsAreRepeated(t *testing.T) {
	cases := []struct {
		method string
		params any
		want   bool
	}{
		{"workflow/result", map[string]string{"workflowId": "w"}, true},
		{"workflow/follow", map[string]any{"workflowId": "w", "afterOffset": 3}, true},
		{"workflow/query", map[string]string{"workflowId": "w", "name": "stage"}, true},
		{"workflow/start", map[string]any{"workflowId": "w", "signal": map[string]any{"name": "go", "requestId": "r-1"}}, true},
		{"workflow/start", map[string]any{"signal": map[string]any{"name": "go", "requestId": "r-1"}}, false},
		{"activity/call", map[string]any{"name": "a", "idempotencyKey": "k"}, true},
		{"activity/call", map[string]any{"name": "a"}, false},
		{"workflow/start", map[string]any{"workflowId": "w", "conflictPolicy": "fail"}, false},
		{"workflow/signal", map[string]any{"workflowId": "w", "name": "s"}, false},
		{"workflow/signal", map[string]any{"workflowId": "w", "name": "s", "requestId": ""}, false},
		{"workflow/signal", map[string]any{"workflowId": "w", "name": "s", "requestId": "r-1"}, true},
		{"workflow/update", map[string]any{"workflowId": "w", "name": "u", "updateId": "u-1"}, true},
		{"workflow/update", map[string]any{"workflowId": "w", "name": "u", "updateId": ""}, false},
		{"workflow/update", map[string]any{"workflowId": "w", "name": "u"}, false},
		{"workflow/cancel", map[string]any{"workflowId": "w", "requestId": "r-1"}, false},
	}
	for _, c := range cases {
		if got := safeToRepeat(c.method, c.params); got != c.want {
			t.Errorf("safeToRepeat(%s, %v) = %v", c.method, c.params, got)
		}
	}
}

// A signal in flight when the connection drops is sent again on the next connection with the same
// requestId (Keel answers the repeat duplicate); one without a requestId fails with
// ErrOutcomeUnknown and is not sent again.
func TestASignalInFlightIsSentAgainWithItsRequestIDAndOneWithoutFailsOutcomeUnknown(t *testing.T) {
	c, first, peers := signalPeer(t)
	done := signalAsync(c, "wf-1", "approve", "A", SignalOptions{})
	sent := signalParams(t, first.next(t, "workflow/signal"))
	first.closer.Close() // Keel dies before answering: the socket closes, no answer is written
	second := nextPeer(t, peers)
	in := second.next(t, "workflow/signal")
	if again := signalParams(t, in); *again.RequestID != *sent.RequestID || string(again.Payload) != `"A"` {
		t.Fatalf("sent again as %s, first as requestId %q", in.params, *sent.RequestID)
	}
	in.answer(map[string]any{"delivered": true, "duplicate": true})
	if o := <-done; o.err != nil || !o.s.Duplicate {
		t.Fatalf("got %+v, %v", o.s, o.err)
	}

	errs := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		errs <- c.call(ctx, "workflow/signal", map[string]any{"workflowId": "wf-1", "name": "approve"}, nil)
	}()
	second.next(t, "workflow/signal")
	second.closer.Close()
	if err := <-errs; !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("a signal without requestId: got %v, want ErrOutcomeUnknown", err)
	}
	// Its next call reconnects; the first request on the new connection is that call, not the signal.
	described := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_, err := c.DescribeWorkflow(ctx, "wf-1")
		described <- err
	}()
	third := nextPeer(t, peers)
	third.next(t, "workflow/describe").answer(map[string]any{"workflowId": "wf-1", "status": "running"})
	if err := <-described; err != nil {
		t.Fatal(err)
	}
}
