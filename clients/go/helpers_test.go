package keel

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// incoming is one request the test peer received; the test answers it through reply.
type incoming struct {
	method string
	params json.RawMessage
	reply  chan result
}

type result struct {
	value any
	err   error
}

func (in incoming) answer(v any)  { in.reply <- result{value: v} }
func (in incoming) fail(e *Error) { in.reply <- result{err: e} }

// peer plays Keel's side of one connection with a real Conn: it answers initialize and
// worker/register itself and hands every other request to the test.
type peer struct {
	*Conn
	registered chan json.RawMessage
	requests   chan incoming
}

// socketPeer listens on a fresh Unix socket (a short path, see STYLE §8) and returns its path and
// a channel of peers, one per accepted connection.
func socketPeer(t *testing.T) (string, <-chan *peer) {
	t.Helper()
	dir, err := os.MkdirTemp("", "kg")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	peers := make(chan *peer, 4)
	var mu sync.Mutex
	var conns []*peer
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p := newPeer(c, c, c)
			mu.Lock()
			conns = append(conns, p)
			mu.Unlock()
			peers <- p
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, p := range conns {
			p.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return path, peers
}

func newPeer(r interface{ Read([]byte) (int, error) }, w interface{ Write([]byte) (int, error) }, c interface{ Close() error }) *peer {
	p := &peer{Conn: NewConn(r, w, c, ConnOptions{Logger: quietLogger()}),
		registered: make(chan json.RawMessage, 4), requests: make(chan incoming, 64)}
	p.Handle("initialize", func(context.Context, json.RawMessage) (any, error) {
		return map[string]any{"protocolVersion": "1", "serverInfo": map[string]string{"name": "keel", "version": "0.1.0"},
			"capabilities": map[string]any{"batches": true, "maxMessageBytes": DefaultMaxFrameBytes}}, nil
	})
	p.Handle("worker/register", func(_ context.Context, params json.RawMessage) (any, error) {
		p.registered <- params
		return map[string]string{"workerId": "w-1"}, nil
	})
	for _, method := range []string{"activity/heartbeat", "workflow/step", "workflow/start", "workflow/result",
		"workflow/signal", "workflow/cancel", "workflow/describe", "workflow/list", "workflow/query", "workflow/update", "activity/call", "activity/result",
		"activity/publish", "workflow/follow", "schedule/create", "schedule/describe", "schedule/list", "schedule/pause",
		"schedule/unpause", "schedule/trigger", "schedule/delete"} {
		method := method
		p.Handle(method, func(ctx context.Context, params json.RawMessage) (any, error) {
			in := incoming{method: method, params: params, reply: make(chan result, 1)}
			p.requests <- in
			select {
			case r := <-in.reply:
				return r.value, r.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	}
	p.Start()
	return p
}

func quietLogger() *log.Logger {
	if testing.Verbose() {
		return log.New(os.Stderr, "keel-test: ", log.Lmicroseconds)
	}
	return log.New(discard{}, "", 0)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (p *peer) next(t *testing.T, method string) incoming {
	t.Helper()
	select {
	case in := <-p.requests:
		if in.method != method {
			t.Fatalf("peer got %s %s, want %s", in.method, in.params, method)
		}
		return in
	case <-time.After(testTimeout):
		t.Fatalf("peer got no %s within %s", method, testTimeout)
	}
	return incoming{}
}

func (p *peer) waitRegistered(t *testing.T) json.RawMessage {
	t.Helper()
	select {
	case r := <-p.registered:
		return r
	case <-time.After(testTimeout):
		t.Fatal("the worker did not register")
	}
	return nil
}

func nextPeer(t *testing.T, peers <-chan *peer) *peer {
	t.Helper()
	select {
	case p := <-peers:
		return p
	case <-time.After(testTimeout):
		t.Fatal("the worker did not connect")
	}
	return nil
}

// startWorker runs w against socket until the test ends; the returned channel gets Run's error.
func startWorker(t *testing.T, w *Worker) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-errs:
		case <-time.After(testTimeout):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return errs
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON compares two JSON texts by value.
func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal([]byte(got), &a); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	if mustJSON(t, a) != mustJSON(t, b) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
