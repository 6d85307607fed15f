package keel_test

import (
	"context"
	"fmt"
	"log"
	"time"

	keel "github.com/keel-dev/keel/clients/go"
)

type Greeting struct {
	Name string `json:"name" keel:"required,minLength=1"`
}

type Greeted struct {
	Greeting string `json:"greeting"`
}

// A worker serving one activity whose contract is derived from its Go types. Run reads
// KEEL_SOCKET (or KEEL_TCP + KEEL_TOKEN), or talks stdio when `keel serve --worker` spawned it.
func ExampleRegisterActivity() {
	w := keel.NewWorker("hello-worker", keel.WorkerOptions{MaxConcurrent: 8})
	keel.RegisterActivity(w, "greet.hello", func(ctx context.Context, in Greeting) (Greeted, error) {
		if in.Name == "nobody" {
			return Greeted{}, &keel.Failure{Type: "BadInput", Message: "who?", NonRetryable: true}
		}
		return Greeted{Greeting: "Hello, " + in.Name}, nil
	}, keel.ActivityOptions{Description: "Greets someone.", Timeouts: &keel.Timeouts{StartToClose: 30 * time.Second}})
	if err := w.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// A long activity heartbeats with its progress; Keel's cancellation arrives through ctx.
func ExampleHeartbeat() {
	fetchPages := func(ctx context.Context, in struct{ Pages int }) (int, error) {
		start := 0
		if info := keel.GetActivityInfo(ctx); info.HeartbeatDetails != nil {
			fmt.Sscan(string(info.HeartbeatDetails), &start) // resume where the last attempt stopped
		}
		for page := start; page < in.Pages; page++ {
			if cancelled, _ := keel.Heartbeat(ctx, page); cancelled {
				return page, ctx.Err()
			}
		}
		return in.Pages, nil
	}
	w := keel.NewWorker("", keel.WorkerOptions{})
	keel.RegisterActivity(w, "pages.fetch", fetchPages)
}

// A workflow: durable steps, parallel activities, a compensation on cancel.
func ExampleRegisterWorkflow() {
	w := keel.NewWorker("orders", keel.WorkerOptions{})
	keel.RegisterWorkflow(w, "orders.fulfil", func(wf *keel.WorkflowContext, order struct{ ID int }) (map[string]any, error) {
		var charged bool
		if err := wf.Activity("billing.charge", order).Get(&charged); err != nil {
			return nil, err
		}
		label, mail := wf.Activity("shipping.label", order), wf.Activity("mail.send", order) // seq 2 and 3
		var tracking string
		if err := label.Get(&tracking); err != nil {
			if keel.IsCancelled(err) {
				_ = wf.Activity("billing.refund", order).Get(nil) // compensate, then re-raise
			}
			return nil, err
		}
		if err := mail.Get(nil); err != nil {
			return nil, err
		}
		if err := wf.Sleep(24 * time.Hour); err != nil { // durable: the worker may restart meanwhile
			return nil, err
		}
		return map[string]any{"tracking": tracking}, nil
	})
}

// A client starts a workflow and waits for its result.
func ExampleClient_StartWorkflow() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := keel.Dial(ctx, keel.ClientOptions{Socket: "/tmp/keel/k.sock"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	started, err := c.StartWorkflow(ctx, "orders.fulfil", map[string]int{"ID": 17}, keel.StartOptions{WorkflowID: "order-17"})
	if err != nil {
		log.Fatal(err)
	}
	var out map[string]any
	if _, err := c.WorkflowResult(ctx, started.WorkflowID, &out); err != nil {
		log.Fatal(err) // a *keel.Failure when the workflow failed or was cancelled
	}
	fmt.Println(out["tracking"])
}

// Workflow code and activities publish events on the execution's stream.
func ExamplePublish() {
	w := keel.NewWorker("reports", keel.WorkerOptions{})
	keel.RegisterActivity(w, "report.render", func(ctx context.Context, in struct{ Pages int }) (int, error) {
		for page := 1; page <= in.Pages; page++ {
			if err := keel.Publish(ctx, "page", map[string]int{"page": page}); err != nil {
				return 0, err // a *keel.Error, e.g. 2006 attemptSuperseded
			}
		}
		return in.Pages, nil
	})
	keel.RegisterWorkflow(w, "report.build", func(wf *keel.WorkflowContext, in struct{ Pages int }) (int, error) {
		if err := wf.Publish("", "started"); err != nil { // a durable step, never repeated on replay
			return 0, err
		}
		var pages int
		err := wf.Activity("report.render", in).Get(&pages)
		return pages, err
	})
}

// A client follows an execution's stream until the execution ends.
func ExampleClient_Follow() {
	ctx := context.Background()
	c, err := keel.Dial(ctx, keel.ClientOptions{Socket: "/tmp/keel/k.sock"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	events, errc := c.Follow(ctx, "report-17", 0)
	for e := range events {
		fmt.Println(e.Offset, e.Source, e.Name, string(e.Event))
	}
	if err := <-errc; err != nil {
		log.Fatal(err)
	}
}
