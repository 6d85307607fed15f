// The Go worker `keel bench` measures: bench.echo returns its input; bench.flow runs N sequential
// bench.echo activities.
//
// With KEEL_BENCH_ECHO_SOCKET set it is instead the peer of the bench's round-trip floor: it
// connects to that Unix socket (the bench listens) and answers each bench/echo request with its
// params through the client's Conn, as a worker answers activity/execute.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net"
	"os"

	keel "github.com/keel-dev/keel/clients/go"
)

type flowInput struct {
	Activities int             `json:"activities"`
	Payload    json.RawMessage `json:"payload"`
}

func echoPeer(path string) {
	c, err := net.Dial("unix", path)
	if err != nil {
		log.Fatalf("bench echo: %v", err)
	}
	conn := keel.NewConn(c, c, c, keel.ConnOptions{})
	conn.Handle("bench/echo", func(ctx context.Context, params json.RawMessage) (any, error) { return params, nil })
	conn.Start()
	<-conn.Done()
}

func main() {
	if path := os.Getenv("KEEL_BENCH_ECHO_SOCKET"); path != "" {
		echoPeer(path)
		return
	}
	w := keel.NewWorker("bench-go", keel.WorkerOptions{MaxConcurrent: 256, MaxConcurrentWorkflows: 4000})
	keel.RegisterActivity(w, "bench.echo", func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	keel.RegisterWorkflow(w, "bench.flow", func(wf *keel.WorkflowContext, in flowInput) (json.RawMessage, error) {
		out := in.Payload
		for i := 0; i < in.Activities; i++ {
			if err := wf.Activity("bench.echo", out).Get(&out); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	w.Run(context.Background())
}
