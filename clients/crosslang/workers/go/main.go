// The Go worker of the cross-language suite: workflow go.greet calls the Ruby activity ruby.reverse.
package main

import (
	"context"
	"os"

	keel "github.com/keel-dev/keel/clients/go"
)

type greetIn struct {
	Name string `json:"name"`
}

type reversed struct {
	Text string `json:"text"`
	By   string `json:"by"`
}

func main() {
	w := keel.NewWorker("crosslang-go", keel.WorkerOptions{})
	keel.RegisterWorkflow(w, "go.greet", func(wf *keel.WorkflowContext, in greetIn) (map[string]any, error) {
		var r reversed
		if err := wf.Activity("ruby.reverse", map[string]string{"text": in.Name}).Get(&r); err != nil {
			return nil, err
		}
		return map[string]any{"greeting": "Hello from Go, " + r.Text, "activityBy": r.By, "by": "go"}, nil
	})
	if err := w.Run(context.Background()); err != nil {
		os.Stderr.WriteString("crosslang-go: " + err.Error() + "\n")
		os.Exit(1)
	}
}
