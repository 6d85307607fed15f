// A Go workflow worker for Keel's end-to-end tests: e2e.flow doubles a number twice through the
// Python activity e2e.double, with a durable sleep between.
package main

import (
	"context"
	"time"

	keel "github.com/keel-dev/keel/clients/go"
)

type num struct {
	N     int     `json:"n"`
	Sleep float64 `json:"sleep,omitempty"`
}

func main() {
	w := keel.NewWorker("e2e-go", keel.WorkerOptions{})
	keel.RegisterWorkflow(w, "e2e.flow", func(wf *keel.WorkflowContext, in num) (num, error) {
		var a num
		if err := wf.Activity("e2e.double", num{N: in.N}).Get(&a); err != nil {
			return num{}, err
		}
		if err := wf.Sleep(100 * time.Millisecond); err != nil {
			return num{}, err
		}
		var b num
		if err := wf.Activity("e2e.double", num{N: a.N, Sleep: in.Sleep}).Get(&b); err != nil {
			return num{}, err
		}
		return b, nil
	})
	w.Run(context.Background())
}
