package keel

// Queries and signal-with-start (docs/protocol.md, "Queries and signal-with-start"): a workflow
// publishes named query values with a durable "query" step, and any client reads the latest one
// with workflow/query, even while no worker is connected. SignalWithStart starts a workflow and
// hands it a signal in one call (workflow/start with a "signal").

import (
	"context"
	"encoding/json"
)

// SetQueryValue makes value (any JSON value) the latest value of query name, which clients read
// with Client.QueryWorkflow. It is a durable step of kind "query", input {"value": value},
// awaited in program order like Publish or UpsertSearchAttributes: a replay finds it in the
// journal and sends nothing, so a value is stored once however often the workflow is re-run.
// Setting a name again replaces its value.
func (wf *WorkflowContext) SetQueryValue(name string, value any) error {
	return wf.run.step("query", name, map[string]any{"value": value}, nil).Get(nil)
}

// QueryWorkflow reads the latest value the workflow set for query name (workflow/query) and
// decodes it into out (may be nil), like WorkflowResult decodes an output:
//
//	var progress struct{ Pct int `json:"pct"` }
//	err := c.QueryWorkflow(ctx, "report-17", "progress", &progress)
//
// Keel answers from its store, so this works while the workflow waits, after it ended, and with
// no worker connected. A name the workflow never set returns an *Error with code
// CodeQueryNotFound (1030), whose Data is {workflowId, name, known} (known: the names it did
// set); an unknown workflow one with code CodeWorkflowNotFound (1001). It is a read, so a call
// in flight when the connection drops is sent again after the reconnect.
func (c *Client) QueryWorkflow(ctx context.Context, workflowID, name string, out any) error {
	var answer struct {
		Value json.RawMessage `json:"value"`
	}
	params := map[string]string{"workflowId": workflowID, "name": name}
	if err := c.call(ctx, "workflow/query", params, &answer); err != nil {
		return err
	}
	if out == nil || len(answer.Value) == 0 {
		return nil
	}
	return json.Unmarshal(answer.Value, out)
}

// SignalWithStart sends signal signalName with payload (may be nil) to workflow name's execution
// opts.WorkflowID, starting it with input first when no execution has that id: Keel starts it
// and buffers the signal in one transaction, so the workflow's first Signal(signalName) wait
// receives it. When an open execution has the id the signal is delivered to it and
// Started.Started is false; when that execution has ended it returns an *Error with code
// CodeWorkflowNotFound (1001), as SignalWorkflow does. Started.Signal holds the delivery
// (Delivered, Duplicate).
//
// Give opts.WorkflowID: it is how a later call finds the same execution (with "" Keel generates
// an id, so each call starts a new execution). The other StartOptions apply when the call
// starts the execution. The signal carries opts.SignalRequestID, or a fresh random UUID when
// that is "" (as SignalWorkflow), so with a WorkflowID (and a ConflictPolicy other than "fail")
// a call in flight when the connection drops is sent again and the signal is delivered once;
// the repeat answers Started false and Signal.Duplicate true.
func (c *Client) SignalWithStart(ctx context.Context, name string, input any, signalName string, payload any, opts StartOptions) (*Started, error) {
	params := startParams(name, input, opts)
	requestID := opts.SignalRequestID
	if requestID == "" {
		requestID = newUUID()
	}
	signal := map[string]any{"name": signalName, "requestId": requestID}
	if payload != nil {
		signal["payload"] = payload
	}
	params["signal"] = signal
	var s Started
	if err := c.call(ctx, "workflow/start", params, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
