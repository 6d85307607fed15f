package keel

// Several endpoints (docs/clients.md "Several endpoints"): two independent `keel serve`
// processes A and B, a worker and a client given both; A is killed with kill -9.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// failoverWithin bounds each wait: generous, CI runs on 2 busy cores.
const failoverWithin = 30 * time.Second

// failoverWorker serves whoami, answering with id, on the given sockets in order.
func failoverWorker(t *testing.T, id string, sockets ...string) {
	w := NewWorker("failover-worker", WorkerOptions{Sockets: sockets, NoSignalHandling: true,
		Logger: quietLogger(), DrainTimeout: 5 * time.Second})
	RegisterActivity(w, "whoami", func(ctx context.Context, _ json.RawMessage) (any, error) {
		return map[string]string{"worker": id}, nil
	})
	startWorker(t, w)
}

// registeredOn reports whether failover-worker is registered on the orchestrator at socket.
func registeredOn(t *testing.T, socket string) bool {
	t.Helper()
	c := dialKeel(t, ClientOptions{Socket: socket})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failoverWithin)
	defer cancel()
	listed, err := c.Workers(ctx)
	if err != nil {
		t.Fatalf("worker/list: %v", err)
	}
	for _, raw := range listed {
		var w workerInfo
		if json.Unmarshal(raw, &w) == nil && w.Name == "failover-worker" {
			return true
		}
	}
	return false
}

func waitRegisteredOn(t *testing.T, socket, what string) {
	t.Helper()
	for deadline := time.Now().Add(failoverWithin); !registeredOn(t, socket); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the worker to register on %s", what)
		}
	}
}

// whoami calls whoami through the orchestrator at socket and returns the serving worker's id.
func whoami(t *testing.T, socket string) string {
	t.Helper()
	c := dialKeel(t, ClientOptions{Socket: socket})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failoverWithin)
	defer cancel()
	result, err := c.CallActivity(ctx, "whoami", map[string]any{}, CallOptions{})
	if err != nil || result.Status != "completed" {
		t.Fatalf("whoami: %v %+v", err, result)
	}
	var out struct{ Worker string }
	if err := json.Unmarshal(result.Output, &out); err != nil {
		t.Fatal(err)
	}
	return out.Worker
}

func TestSeveralEndpointsAreReadFromCommaSeparatedVariables(t *testing.T) {
	t.Setenv(EnvTransport, "")
	t.Setenv(EnvSocket, "/a.sock, /b.sock")
	got, err := ResolveEndpoints(nil, nil, "", true)
	if err != nil || len(got) != 2 || got[0].Socket != "/a.sock" || got[1].Socket != "/b.sock" {
		t.Fatalf("KEEL_SOCKET list: %+v %v", got, err)
	}
	t.Setenv(EnvSocket, "")
	t.Setenv(EnvTCP, "h1:7000,h2:7001")
	t.Setenv(EnvToken, "t")
	got, err = ResolveEndpoints(nil, nil, "", true)
	if err != nil || len(got) != 2 || got[1].TCP != "h2:7001" || got[1].Token != "t" {
		t.Fatalf("KEEL_TCP list: %+v %v", got, err)
	}
	t.Setenv(EnvTCP, "h1:7000,,h2:7001")
	if _, err := ResolveEndpoints(nil, nil, "", true); err == nil || !strings.Contains(err.Error(), "empty entry") {
		t.Fatalf("an empty entry: %v", err)
	}
	got, err = ResolveEndpoints([]string{"/a,b.sock"}, nil, "", false)
	if err != nil || len(got) != 1 || got[0].Socket != "/a,b.sock" {
		t.Fatalf("an argument is used as is: %+v %v", got, err)
	}
}

func TestEndpointRingMovesOnAtOnceAndPausesOnlyAfterAWholeRound(t *testing.T) {
	ring := newEndpointRing([]Endpoint{{Socket: "a"}, {Socket: "b"}})
	if ring.failed() || ring.current().Socket != "b" {
		t.Fatal("the first failure should move to b without a pause")
	}
	if !ring.failed() || ring.current().Socket != "a" {
		t.Fatal("a whole round failed: pause, then a")
	}
	if !newEndpointRing([]Endpoint{{Socket: "only"}}).failed() {
		t.Fatal("one endpoint pauses after every failure")
	}
}

func TestFailoverWorkerRegistersOnTheNextEndpointWhenItsNodeDies(t *testing.T) {
	a, b := newRestartableKeel(t), newRestartableKeel(t)
	failoverWorker(t, "worker-1", a.socket, b.socket)
	waitRegisteredOn(t, a.socket, "A")
	if registeredOn(t, b.socket) {
		t.Fatal("the worker should use the first endpoint only")
	}
	if got := whoami(t, a.socket); got != "worker-1" {
		t.Fatalf("served by %q", got)
	}
	a.kill9()
	waitRegisteredOn(t, b.socket, "B after A died")
	if got := whoami(t, b.socket); got != "worker-1" {
		t.Fatalf("served by %q", got)
	}
}

func TestFailoverWorkerKeepsRetryingWhileEveryEndpointIsDown(t *testing.T) {
	a, b := newRestartableKeel(t), newRestartableKeel(t)
	failoverWorker(t, "worker-2", a.socket, b.socket)
	waitRegisteredOn(t, a.socket, "A")
	a.kill9()
	b.kill9()
	time.Sleep(time.Second) // a few rounds of refused connects
	b.start()
	waitRegisteredOn(t, b.socket, "B once it is back")
	if got := whoami(t, b.socket); got != "worker-2" {
		t.Fatalf("served by %q", got)
	}
}

func TestFailoverClientMovesToTheNextEndpointAndNamesEachWhenAllAreDown(t *testing.T) {
	a, b := newRestartableKeel(t), newRestartableKeel(t)
	c := dialKeel(t, ClientOptions{Sockets: []string{a.socket, b.socket}, ReconnectTimeout: 5 * time.Second})
	defer c.Close()
	a.kill9()
	ctx, cancel := context.WithTimeout(context.Background(), failoverWithin)
	defer cancel()
	if _, err := c.Workers(ctx); err != nil { // sent after A died: reaches B
		t.Fatalf("worker/list after A died: %v", err)
	}
	b.kill9()
	_, err := Dial(ctx, ClientOptions{Sockets: []string{a.socket, b.socket}})
	if err == nil || !strings.Contains(err.Error(), "no Keel endpoint is reachable") ||
		!strings.Contains(err.Error(), a.socket) || !strings.Contains(err.Error(), b.socket) {
		t.Fatalf("Dial with every endpoint down: %v", err)
	}
}
