package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func publishingWorkflow(wf *WorkflowContext, in any) (map[string]int, error) {
	if err := wf.Publish("progress", map[string]int{"pct": 50}); err != nil {
		return nil, err
	}
	if err := wf.Publish("", "done"); err != nil {
		return nil, err
	}
	return map[string]int{"published": 2}, nil
}

func noMoreRequests(t *testing.T, p *peer) {
	t.Helper()
	select {
	case in := <-p.requests:
		t.Fatalf("unexpected %s %s", in.method, in.params)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWorkflowPublishIsAStepAwaitedInOrderAndNotSentOnReplay(t *testing.T) {
	p := workflowPeer(t, func(w *Worker) { RegisterWorkflow(w, "pub", publishingWorkflow) })
	answer := runWorkflow(t, p, "pub", `{}`, `[]`, false)
	first := p.next(t, "workflow/step")
	sameJSON(t, string(first.params), `{"workflowId":"wf-1","runId":3,"seq":1,"kind":"publish","name":"progress","input":{"event":{"pct":50}}}`)
	noMoreRequests(t, p) // the second publish waits for the first one's answer
	first.answer(map[string]any{"status": "completed", "result": nil})
	second := p.next(t, "workflow/step")
	sameJSON(t, string(second.params), `{"workflowId":"wf-1","runId":3,"seq":2,"kind":"publish","name":"event","input":{"event":"done"}}`)
	second.answer(map[string]any{"status": "completed", "result": nil})
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"published":2}}`)

	answer = runWorkflow(t, p, "pub", `{}`, `[
		{"seq":1,"kind":"publish","name":"progress","status":"completed","result":null},
		{"seq":2,"kind":"publish","name":"event","status":"completed","result":null}]`, false)
	sameJSON(t, await(t, answer), `{"status":"completed","output":{"published":2}}`)
	noMoreRequests(t, p)
}

func TestWorkflowPublishErrorAnswerIsReturnedToTheWorkflow(t *testing.T) {
	got := make(chan error, 1)
	p := workflowPeer(t, func(w *Worker) {
		RegisterWorkflow(w, "pub", func(wf *WorkflowContext, in any) (any, error) {
			err := wf.Publish("big", strings.Repeat("x", 10))
			got <- err
			return nil, err
		})
	})
	answer := runWorkflow(t, p, "pub", `{}`, `[]`, false)
	p.next(t, "workflow/step").fail(&Error{Code: CodeInvalidParams, Message: "event too large"})
	var rpc *Error
	if err := <-got; !errors.As(err, &rpc) || rpc.Code != CodeInvalidParams {
		t.Fatalf("Publish returned %v, want the *Error -32602", err)
	}
	if a := await(t, answer); !strings.Contains(a, `"status":"failed"`) || !strings.Contains(a, "event too large") {
		t.Fatalf("run answered %s", a)
	}
}

// executeWithToken sends activity/execute for task t-p, attempt 2, with an attemptToken.
func executeWithToken(t *testing.T, p *peer, name string) <-chan string {
	out := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		var answer json.RawMessage
		params := json.RawMessage(`{"taskId":"t-p","name":"` + name + `","input":{"steps":2},"attempt":2,` +
			`"idempotencyKey":"wf-1/0/1","deadlineMs":4102444800000,"workflowId":"wf-1","attemptToken":"tok-1"}`)
		if err := p.Call(ctx, "activity/execute", params, &answer); err != nil {
			out <- "error: " + err.Error()
			return
		}
		out <- string(answer)
	}()
	return out
}

func TestActivityPublishSendsTheAttemptAndWaitsForEachAnswer(t *testing.T) {
	socket, peers := socketPeer(t)
	w := newTestWorker(socket)
	errs := make(chan error, 4)
	RegisterActivity(w, "progress", func(ctx context.Context, in struct{ Steps int }) (map[string]int, error) {
		for i := 1; i <= in.Steps; i++ {
			name := "progress"
			if i == in.Steps {
				name = "" // the default label
			}
			if err := Publish(ctx, name, map[string]int{"step": i}); err != nil {
				errs <- err
				return nil, err
			}
		}
		return map[string]int{"published": in.Steps}, nil
	})
	startWorker(t, w)
	p := nextPeer(t, peers)
	p.waitRegistered(t)

	answer := executeWithToken(t, p, "progress")
	first := p.next(t, "activity/publish")
	sameJSON(t, string(first.params), `{"taskId":"t-p","attempt":2,"attemptToken":"tok-1","name":"progress","event":{"step":1}}`)
	noMoreRequests(t, p)
	first.answer(struct{}{})
	second := p.next(t, "activity/publish")
	sameJSON(t, string(second.params), `{"taskId":"t-p","attempt":2,"attemptToken":"tok-1","name":"event","event":{"step":2}}`)
	second.answer(struct{}{})
	sameJSON(t, <-answer, `{"output":{"published":2}}`)

	// A refusal: 2006 attemptSuperseded comes back as the *Error and cancels the attempt.
	answer = executeWithToken(t, p, "progress")
	p.next(t, "activity/publish").fail(&Error{Code: CodeAttemptSuperseded, Message: "attempt 2 of task t-p ended"})
	var rpc *Error
	if err := <-errs; !errors.As(err, &rpc) || rpc.Code != CodeAttemptSuperseded {
		t.Fatalf("Publish returned %v, want the *Error 2006", err)
	}
	if a := <-answer; !strings.Contains(a, `"failure"`) {
		t.Fatalf("a superseded attempt answered %s", a)
	}

	// -32602 (an activity called directly has no stream) is returned as it came.
	answer = executeWithToken(t, p, "progress")
	p.next(t, "activity/publish").fail(&Error{Code: CodeInvalidParams, Message: "task t-p belongs to no workflow"})
	if err := <-errs; !errors.As(err, &rpc) || rpc.Code != CodeInvalidParams || !strings.Contains(err.Error(), "no workflow") {
		t.Fatalf("Publish returned %v, want the *Error -32602", err)
	}
	if a := <-answer; !strings.Contains(a, `"failure"`) {
		t.Fatalf("answered %s", a)
	}
}

func TestActivityPublishOutsideAnActivityFails(t *testing.T) {
	if err := Publish(context.Background(), "x", 1); err == nil {
		t.Fatal("Publish outside an activity succeeded")
	}
}

type followPoll struct {
	WorkflowID    string `json:"workflowId"`
	AfterOffset   int64  `json:"afterOffset"`
	Limit         *int   `json:"limit"`
	WaitTimeoutMs int64  `json:"waitTimeoutMs"`
}

func nextPoll(t *testing.T, p *peer) (incoming, followPoll) {
	t.Helper()
	in := p.next(t, "workflow/follow")
	var poll followPoll
	if err := json.Unmarshal(in.params, &poll); err != nil {
		t.Fatal(err)
	}
	return in, poll
}

func events(offsets ...int64) []map[string]any {
	list := []map[string]any{}
	for _, o := range offsets {
		list = append(list, map[string]any{"offset": o, "name": "progress", "event": map[string]int64{"n": o},
			"atMs": 1767225600000 + o, "source": "workflow", "seq": o})
	}
	return list
}

func page(next int64, done bool, offsets ...int64) map[string]any {
	status := "running"
	if done {
		status = "completed"
	}
	return map[string]any{"workflowId": "wf-1", "events": events(offsets...), "nextOffset": next, "status": status, "done": done}
}

type followed struct {
	events []StreamEvent
	err    error
}

func followAsync(ctx context.Context, c *Client, after int64) <-chan followed {
	out := make(chan followed, 1)
	go func() {
		var got followed
		events, errc := c.Follow(ctx, "wf-1", after)
		for e := range events {
			got.events = append(got.events, e)
		}
		got.err = <-errc
		out <- got
	}()
	return out
}

func offsetsOf(list []StreamEvent) string {
	var s []string
	for _, e := range list {
		s = append(s, fmt.Sprint(e.Offset))
	}
	return strings.Join(s, ",")
}

func TestFollowPagesThroughNextOffsetAndStopsAtDone(t *testing.T) {
	c, p, _ := signalPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := followAsync(ctx, c, 0)

	in, poll := nextPoll(t, p)
	if poll.WorkflowID != "wf-1" || poll.AfterOffset != 0 || poll.Limit != nil || poll.WaitTimeoutMs < 9000 {
		t.Fatalf("first poll %s", in.params)
	}
	in.answer(page(2, false, 1, 2))
	in, poll = nextPoll(t, p)
	if poll.AfterOffset != 2 {
		t.Fatalf("second poll %s, want afterOffset 2", in.params)
	}
	in.answer(page(2, false)) // the wait ran out: no events
	in, poll = nextPoll(t, p)
	if poll.AfterOffset != 2 {
		t.Fatalf("third poll %s, want afterOffset 2", in.params)
	}
	in.answer(page(4, false, 3, 4))
	in, poll = nextPoll(t, p)
	if poll.AfterOffset != 4 {
		t.Fatalf("fourth poll %s, want afterOffset 4", in.params)
	}
	in.answer(page(5, true, 5))
	got := <-done
	if got.err != nil || offsetsOf(got.events) != "1,2,3,4,5" {
		t.Fatalf("followed %s, %v", offsetsOf(got.events), got.err)
	}
	noMoreRequests(t, p)
	e := got.events[2]
	var decoded struct{ N int64 }
	if err := e.Decode(&decoded); err != nil || decoded.N != 3 || e.Name != "progress" || e.Source != "workflow" ||
		e.Seq != 3 || e.At().UnixMilli() != 1767225600003 {
		t.Fatalf("event 3: %+v (%v)", e, err)
	}
}

func TestFollowWithoutAWaitTimeoutInTheContextAsksThirtySeconds(t *testing.T) {
	c, p, _ := signalPeer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := followAsync(ctx, c, 7)
	in, poll := nextPoll(t, p)
	if poll.AfterOffset != 7 || poll.WaitTimeoutMs != 30000 {
		t.Fatalf("poll %s, want afterOffset 7 and waitTimeoutMs 30000", in.params)
	}
	in.answer(page(7, true)) // ended, no later event
	if got := <-done; got.err != nil || len(got.events) != 0 {
		t.Fatalf("followed %s, %v", offsetsOf(got.events), got.err)
	}
}

func TestFollowReportsAnErrorAnswerAndCancellation(t *testing.T) {
	c, p, _ := signalPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := followAsync(ctx, c, 0)
	in, _ := nextPoll(t, p)
	in.fail(&Error{Code: 4001, Message: "no workflow wf-1"})
	got := <-done
	var rpc *Error
	if !errors.As(got.err, &rpc) || rpc.Code != 4001 || len(got.events) != 0 {
		t.Fatalf("followed %s, %v", offsetsOf(got.events), got.err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	done = followAsync(ctx2, c, 0)
	in, _ = nextPoll(t, p)
	in.answer(page(1, false, 1))
	nextPoll(t, p) // a long poll under way
	cancel2()
	select {
	case got = <-done:
	case <-time.After(testTimeout):
		t.Fatal("the follow did not end when its context was cancelled")
	}
	if !errors.Is(got.err, context.Canceled) || offsetsOf(got.events) != "1" {
		t.Fatalf("followed %s, %v", offsetsOf(got.events), got.err)
	}
}

// A poll the connection drops is sent again on the next connection from the same offset: no event
// is lost or handed twice.
func TestFollowResumesFromTheLastOffsetAfterAReconnect(t *testing.T) {
	c, first, peers := signalPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	done := followAsync(ctx, c, 0)
	in, _ := nextPoll(t, first)
	in.answer(page(2, false, 1, 2))
	_, poll := nextPoll(t, first)
	if poll.AfterOffset != 2 {
		t.Fatalf("afterOffset %d", poll.AfterOffset)
	}
	first.closer.Close() // Keel dies during the long poll
	second := nextPeer(t, peers)
	in, poll = nextPoll(t, second)
	if poll.AfterOffset != 2 {
		t.Fatalf("the poll was sent again from %d, want 2", poll.AfterOffset)
	}
	in.answer(page(3, true, 3))
	if got := <-done; got.err != nil || offsetsOf(got.events) != "1,2,3" {
		t.Fatalf("followed %s, %v", offsetsOf(got.events), got.err)
	}
}

func TestFollowPageSendsLimitAndKeepsTheWaitWithinTheContext(t *testing.T) {
	c, p, _ := signalPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pages := make(chan *FollowPage, 1)
	go func() {
		pg, err := c.FollowPage(ctx, "wf-1", FollowOptions{AfterOffset: 1, Limit: 2, WaitTimeout: time.Minute})
		if err != nil {
			t.Error(err)
		}
		pages <- pg
	}()
	in, poll := nextPoll(t, p)
	if poll.AfterOffset != 1 || poll.Limit == nil || *poll.Limit != 2 || poll.WaitTimeoutMs > 3000 || poll.WaitTimeoutMs < 1000 {
		t.Fatalf("poll %s", in.params)
	}
	in.answer(page(3, false, 2, 3))
	if pg := <-pages; pg == nil || len(pg.Events) != 2 || pg.NextOffset != 3 || pg.Done || pg.Status != "running" {
		t.Fatalf("page %+v", pg)
	}
}
