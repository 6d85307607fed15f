package keel

// Execution streams (docs/protocol.md, "Streams"): a workflow execution's events, numbered 1, 2,
// 3… (offset), published by its workflow code (a durable "publish" step) and by the activities
// it runs (activity/publish), and read by clients with workflow/follow long polls.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DefaultEventName is the label of an event published with an empty name.
const DefaultEventName = "event"

// DefaultFollowWait is how long one workflow/follow poll of Follow waits for an event.
const DefaultFollowWait = 30 * time.Second

// maxFollowWait is the protocol's bound on waitTimeoutMs (300000).
const maxFollowWait = 300 * time.Second

// Publish appends event (any JSON value) to this execution's stream with label name ("" is
// "event"). It is a durable step of kind "publish", awaited in program order like Now or UUID:
// Keel stores the event once, with the step, and a replay finds the step in the journal and sends
// nothing, so followers see the event once however often the workflow is re-run.
func (wf *WorkflowContext) Publish(name string, event any) error {
	if name == "" {
		name = DefaultEventName
	}
	return wf.run.step("publish", name, map[string]any{"event": event}, nil).Get(nil)
}

// Publish appends event (any JSON value) with label name ("" is "event") to the stream of the
// workflow the activity running with ctx works for: activity/publish with the attempt's taskId,
// attempt (and attemptToken when activity/execute gave one). It waits for Keel's answer, so the
// events of one attempt reach the stream in the order they were published. A retried attempt
// publishes again; followers see each event's attempt.
//
// An error answer is returned as an *Error: 2006 attemptSuperseded once the attempt no longer
// counts (ctx is then cancelled too, as for a heartbeat), -32602 invalidParams for an activity
// called directly with activity/call, which has no stream.
func Publish(ctx context.Context, name string, event any) error {
	a, ok := ctx.Value(activityKey{}).(*activityRun)
	if !ok {
		return errors.New("keel: Publish called outside an activity")
	}
	if name == "" {
		name = DefaultEventName
	}
	params := map[string]any{"taskId": a.info.TaskID, "attempt": a.info.Attempt, "name": name, "event": event}
	if a.token != "" {
		params["attemptToken"] = a.token
	}
	err := a.conn.Call(ctx, "activity/publish", params, nil)
	var rpc *Error
	if errors.As(err, &rpc) && rpc.Code == CodeAttemptSuperseded {
		a.cancelWith("attempt superseded: " + rpc.Message)
	}
	return err
}

// StreamEvent is one event of an execution's stream.
type StreamEvent struct {
	// Offset numbers the execution's events from 1, without gaps.
	Offset int64           `json:"offset"`
	Name   string          `json:"name"`
	Event  json.RawMessage `json:"event"`
	AtMs   int64           `json:"atMs"`
	// Source is "workflow" (Seq is the publish step's seq) or "activity" (TaskID and Attempt
	// name the attempt that published it).
	Source  string `json:"source"`
	Seq     int    `json:"seq,omitempty"`
	TaskID  string `json:"taskId,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
}

// At is when Keel stored the event.
func (e StreamEvent) At() time.Time { return time.UnixMilli(e.AtMs) }

// Decode decodes the event into out.
func (e StreamEvent) Decode(out any) error {
	if len(e.Event) == 0 {
		return json.Unmarshal([]byte("null"), out)
	}
	return json.Unmarshal(e.Event, out)
}

// FollowPage is workflow/follow's answer.
type FollowPage struct {
	WorkflowID string        `json:"workflowId"`
	Events     []StreamEvent `json:"events"`
	// NextOffset is the afterOffset of the next poll: the last event's offset, or the poll's
	// afterOffset when no event came.
	NextOffset int64  `json:"nextOffset"`
	Status     string `json:"status"`
	// Done: the execution has ended and these are its last events.
	Done bool `json:"done"`
}

// FollowOptions for FollowPage.
type FollowOptions struct {
	// AfterOffset: the page starts with the event after this offset (0: the first).
	AfterOffset int64
	// Limit bounds the events of the page (1 to 1000; 0 is Keel's default, 100).
	Limit int
	// WaitTimeout: when no event after AfterOffset exists yet, Keel waits up to this long for one
	// (at most 300 s, and not past ctx's deadline); 0 answers at once.
	WaitTimeout time.Duration
}

// FollowPage makes one workflow/follow call: the events after opts.AfterOffset, at once when
// there are some, else after waiting up to opts.WaitTimeout for one. It is a read: a poll the
// connection dropped is sent again after the reconnect.
func (c *Client) FollowPage(ctx context.Context, workflowID string, opts FollowOptions) (*FollowPage, error) {
	wait := opts.WaitTimeout
	if wait > maxFollowWait {
		wait = maxFollowWait
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		wait = time.Until(deadline)
	}
	if wait < 0 {
		wait = 0
	}
	params := map[string]any{"workflowId": workflowID, "afterOffset": opts.AfterOffset, "waitTimeoutMs": wait.Milliseconds()}
	if opts.Limit > 0 {
		params["limit"] = opts.Limit
	}
	var page FollowPage
	if err := c.callWaiting(ctx, wait, "workflow/follow", params, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// FollowFunc calls fn with each event of workflowID's stream after afterOffset (0: from the
// start), once each and in offset order, as they come: it long-polls workflow/follow (waiting up
// to DefaultFollowWait per poll, each poll from the last page's nextOffset). It returns nil after
// the page that says the execution is done, fn's error if fn returns one, ctx's error when ctx
// ends first, or the error of a poll (say, an unknown workflow). A poll cut by a reconnect is
// sent again from the same offset, so no event is lost or repeated.
func (c *Client) FollowFunc(ctx context.Context, workflowID string, afterOffset int64, fn func(StreamEvent) error) error {
	after := afterOffset
	for {
		page, err := c.FollowPage(ctx, workflowID, FollowOptions{AfterOffset: after, WaitTimeout: DefaultFollowWait})
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			if e.Offset <= after {
				continue // never hand an event twice
			}
			if err := fn(e); err != nil {
				return err
			}
			after = e.Offset
		}
		if page.NextOffset > after {
			after = page.NextOffset
		}
		if page.Done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Follow is FollowFunc as channels: events gets each event once, in offset order, and is closed
// when the follow ends; errc then gets the follow's error (nil once the execution is done) and
// is closed. Cancel ctx to stop early (errc then gets ctx's error):
//
//	events, errc := c.Follow(ctx, "order-17", 0)
//	for e := range events {
//		fmt.Println(e.Offset, e.Name, string(e.Event))
//	}
//	if err := <-errc; err != nil {
//		return err
//	}
func (c *Client) Follow(ctx context.Context, workflowID string, afterOffset int64) (events <-chan StreamEvent, errc <-chan error) {
	out := make(chan StreamEvent)
	errs := make(chan error, 1)
	go func() {
		err := c.FollowFunc(ctx, workflowID, afterOffset, func(e StreamEvent) error {
			select {
			case out <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		errs <- err
		close(out)
		close(errs)
	}()
	return out, errs
}

// String is "offset name event (source)", for logs.
func (e StreamEvent) String() string {
	return fmt.Sprintf("%d %s %s (%s)", e.Offset, e.Name, e.Event, e.Source)
}
