// The Go worker `keel bench` measures: bench.echo returns its input; bench.flow runs N sequential
// bench.echo activities.
package main

import (
	"context"
	"encoding/json"

	keel "github.com/keel-dev/keel/clients/go"
)

type flowInput struct {
	Activities int             `json:"activities"`
	Payload    json.RawMessage `json:"payload"`
}

func main() {
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
