// Command conformance-worker is the Go client under test for clients/conformance/: the fixed
// activities and workflows every language's conformance worker registers (mirroring
// clients/python/tests/conformance_worker.py). It talks stdio:
//
//	go build -o /tmp/keel-go-conformance ./cmd/conformance-worker
//	python3 ../conformance/run.py --cmd /tmp/keel-go-conformance
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	keel "github.com/keel-dev/keel/clients/go"
)

// waitBound bounds waits inside the test activities, so a broken client never hangs the runner.
const waitBound = 30 * time.Second

// CrashError is a plain error: the client must report it as retryable with type "CrashError".
type CrashError struct{ msg string }

func (e *CrashError) Error() string { return e.msg }

type object = map[string]any

func main() {
	w := keel.NewWorker("conformance-worker", keel.WorkerOptions{MaxConcurrent: 4})
	registerActivities(w)
	registerWorkflows(w)
	if err := w.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func registerActivities(w *keel.Worker) {
	keel.RegisterActivity(w, "echo", func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		fmt.Println("a stray print from echo: must reach stderr, never the wire")
		return in, nil
	}, keel.ActivityOptions{Description: "Returns its input.",
		Input: json.RawMessage(`{"type":"object"}`), Output: json.RawMessage(`{"type":"object"}`)})

	keel.RegisterActivity(w, "upper_sync", func(ctx context.Context, in object) (object, error) {
		text, _ := in["text"].(string)
		return object{"text": strings.ToUpper(text)}, nil
	})

	keel.RegisterActivity(w, "fail", func(ctx context.Context, in json.RawMessage) (any, error) {
		return nil, &keel.Failure{Type: "BadInput", Message: "fail was called", NonRetryable: true,
			Details: object{"input": in}}
	})

	keel.RegisterActivity(w, "retry", func(ctx context.Context, in json.RawMessage) (any, error) {
		return nil, &keel.Failure{Type: "RateLimited", Message: "429 from the API", RetryAfter: 2 * time.Second,
			Details: object{"status": 429}}
	}, keel.ActivityOptions{
		RetryPolicy: &keel.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{"BadInput"}},
		Timeouts:    &keel.Timeouts{StartToClose: 5 * time.Second}})

	keel.RegisterActivity(w, "crash", func(ctx context.Context, in json.RawMessage) (any, error) {
		return nil, &CrashError{"boom"}
	})

	keel.RegisterActivity(w, "hb", func(ctx context.Context, in json.RawMessage) (object, error) {
		for page := 1; page <= 2; page++ {
			if cancelled, err := keel.Heartbeat(ctx, object{"page": page}); cancelled || err != nil {
				return nil, ctx.Err()
			}
		}
		info := keel.GetActivityInfo(ctx)
		return object{"taskId": info.TaskID, "attempt": info.Attempt, "idempotencyKey": info.IdempotencyKey,
			"previous": info.HeartbeatDetails}, nil
	})

	keel.RegisterActivity(w, "slow", func(ctx context.Context, in json.RawMessage) (object, error) {
		if cancelled, _ := keel.Heartbeat(ctx, object{"started": true}); cancelled {
			return nil, ctx.Err()
		}
		select {
		case <-time.After(waitBound):
			return object{"cancelled": false}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})

	var barrier struct {
		sync.Mutex
		waiting int
		release chan struct{}
	}
	barrier.release = make(chan struct{})
	keel.RegisterActivity(w, "barrier", func(ctx context.Context, in object) (object, error) {
		count, _ := in["count"].(float64)
		barrier.Lock()
		if barrier.waiting++; barrier.waiting == int(count) {
			close(barrier.release)
		}
		barrier.Unlock()
		select {
		case <-barrier.release:
			return object{"released": true}, nil
		case <-time.After(waitBound):
			return nil, fmt.Errorf("barrier: not all of %v arrived", count)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})

	keel.RegisterActivity(w, "sleep", func(ctx context.Context, in object) (object, error) {
		ms, _ := in["ms"].(float64)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return object{"slept": ms}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})

	// progress publishes {"step": i} as "progress" for i = 1..steps, each awaited (conformance 47).
	keel.RegisterActivity(w, "progress", func(ctx context.Context, in object) (object, error) {
		steps, _ := in["steps"].(float64)
		for i := 1; i <= int(steps); i++ {
			if err := keel.Publish(ctx, "progress", object{"step": i}); err != nil {
				return nil, err
			}
		}
		return object{"published": steps}, nil
	})
}
