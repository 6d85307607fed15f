package keel

// Updates (docs/protocol.md, "Updates"): a client sends a request into a running workflow with
// workflow/update; the workflow receives it with a durable wait (a "signal" step named
// "update:" + the update's name) and answers it with a durable "respond" step named by the
// update's id. The answer is journaled, so a client that sends the same update id again gets the
// same outcome and the workflow never receives it twice.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// updateStepPrefix prefixes an update's name in the name of its receive step.
const updateStepPrefix = "update:"

// Update is an update a workflow received with WaitForUpdate. Answer it once, with Respond or
// Reject; the client's workflow/update call returns that answer.
type Update struct {
	// ID is the update's id (the client's UpdateOptions.UpdateID, or the UUID it generated): the
	// name of the "respond" step that answers it.
	ID string
	// Name is the update's name, as passed to WaitForUpdate.
	Name string
	// Input is the update's input as sent ("null" when the client sent none).
	Input json.RawMessage
}

// Decode decodes the update's input into out, like Future.Get decodes a step's result.
func (u Update) Decode(out any) error {
	if len(u.Input) == 0 {
		return nil
	}
	if err := json.Unmarshal(u.Input, out); err != nil {
		return fmt.Errorf("keel: update %s (%s): cannot decode the input into %T: %w", u.ID, u.Name, out, err)
	}
	return nil
}

// WaitForUpdate waits for update name, a durable step of kind "signal" named "update:" + name
// (input {} or {"timeoutMs": N}, as Signal): updates are received in the order clients sent
// them, and one sent before the workflow waits is buffered until it does. timeout 0 waits
// without limit; past a timeout it returns a Failure for which IsTimedOut is true. Answer the
// update with Respond or Reject; a replay finds both steps in the journal and sends nothing.
//
//	u, err := wf.WaitForUpdate("approve", 0)
//	if err != nil {
//		return nil, err
//	}
//	var in struct{ Amount int `json:"amount"` }
//	if err := u.Decode(&in); err != nil {
//		return nil, err
//	}
//	if in.Amount > 100 {
//		err = wf.Reject(u, fmt.Sprintf("amount %d is over 100", in.Amount))
//	} else {
//		err = wf.Respond(u, map[string]int{"approved": in.Amount})
//	}
func (wf *WorkflowContext) WaitForUpdate(name string, timeout time.Duration) (Update, error) {
	var received struct {
		UpdateID string          `json:"updateId"`
		Input    json.RawMessage `json:"input"`
	}
	if err := wf.run.signalStep(updateStepPrefix+name, timeout).Get(&received); err != nil {
		return Update{}, err
	}
	return Update{ID: received.UpdateID, Name: name, Input: received.Input}, nil
}

// Respond answers update u with result (any JSON value; nil is null): a durable step of kind
// "respond" named u.ID, input {"result": result}, awaited in program order. The client's
// workflow/update call then returns status "completed" with that result. An update not received
// with WaitForUpdate may be answered by its id alone: wf.Respond(keel.Update{ID: id}, result).
// It fails, sending nothing, when u.ID is empty.
func (wf *WorkflowContext) Respond(u Update, result any) error {
	return wf.respond("Respond", u, map[string]any{"result": result})
}

// Reject answers update u as rejected with message: a "respond" step like Respond's, with input
// {"failure": {"type": "Rejected", "message": message}}. The client's workflow/update call then
// returns status "rejected" with that failure. The workflow goes on: a rejection is an answer,
// not an error of the workflow. RejectWith chooses the type and adds details.
func (wf *WorkflowContext) Reject(u Update, message string) error {
	return wf.respond("Reject", u, map[string]any{"failure": updateFailure{Type: "Rejected", Message: message}})
}

// RejectWith is Reject with the failure's type ("" is "Rejected") and details (any JSON value;
// nil sends none).
func (wf *WorkflowContext) RejectWith(u Update, failureType, message string, details any) error {
	if failureType == "" {
		failureType = "Rejected"
	}
	return wf.respond("RejectWith", u, map[string]any{"failure": updateFailure{Type: failureType, Message: message, Details: details}})
}

// updateFailure is a rejection on the wire: {type, message, details?}.
type updateFailure struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// respond sends the "respond" step answering u with input; caller names the method in the error.
func (wf *WorkflowContext) respond(caller string, u Update, input map[string]any) error {
	if u.ID == "" {
		return fmt.Errorf("keel: %s needs an update with an id (from WaitForUpdate)", caller)
	}
	return wf.run.step("respond", u.ID, input, nil).Get(nil)
}

// UpdateOptions for UpdateWorkflow.
type UpdateOptions struct {
	// UpdateID identifies the update (1 to 512 bytes): Keel delivers an id once per workflow, and
	// a later call with the same id waits for that update's answer instead of delivering it again.
	// "" sends a fresh random UUID. Give your own to make a retry after a restart of your process
	// deduplicate too.
	UpdateID string
	// WaitTimeoutMs is how long Keel waits for the workflow's answer before it answers "pending"
	// (0 to 86,400,000). 0 waits 60 s, or less when ctx's deadline comes sooner.
	WaitTimeoutMs int
}

// UpdateResult is workflow/update's answer.
type UpdateResult struct {
	WorkflowID string `json:"workflowId"`
	UpdateID   string `json:"updateId"`
	Name       string `json:"name"`
	// Status is "completed" (the workflow answered with Respond: Result), "rejected" (with
	// Reject: Failure) or "pending" (the wait ended first; the update stays delivered, and a call
	// with the same UpdateID waits for it again).
	Status  string          `json:"status"`
	Result  json.RawMessage `json:"result,omitempty"`
	Failure *Failure        `json:"failure,omitempty"`
}

// UpdateWorkflow sends update name with input (may be nil) to workflow workflowID
// (workflow/update) and waits for the workflow's answer (opts may be nil):
//
//	r, err := c.UpdateWorkflow(ctx, "order-17", "approve", map[string]int{"amount": 5}, nil)
//	// r.Status "completed", r.Result {"approved":5}; or "rejected", r.Failure
//
// A rejection is an answer, not an error: it returns status "rejected" with the Failure and a
// nil error. Errors are Keel's: an *Error with code CodeWorkflowNotFound (1001) when no
// workflow has the id or it ended before accepting the update, CodeUpdateUnanswered (1031)
// when it ended without answering (Data {workflowId, updateId, status}), and
// CodeInputContractViolation (3001) when input breaks the update's contract (nothing is
// recorded then). The update carries opts.UpdateID, or a fresh random UUID when that is "" (the
// answer's UpdateID tells which), so a call in flight when the connection drops is sent again
// after the reconnect and the update is delivered once.
func (c *Client) UpdateWorkflow(ctx context.Context, workflowID, name string, input any, opts *UpdateOptions) (*UpdateResult, error) {
	if opts == nil {
		opts = &UpdateOptions{}
	}
	if opts.WaitTimeoutMs < 0 {
		return nil, errors.New("keel: UpdateOptions.WaitTimeoutMs is negative")
	}
	updateID := opts.UpdateID
	if updateID == "" {
		updateID = newUUID()
	}
	wait := time.Duration(opts.WaitTimeoutMs) * time.Millisecond
	if opts.WaitTimeoutMs == 0 {
		wait = waitFor(ctx)
	}
	params := map[string]any{"workflowId": workflowID, "name": name, "input": input, "updateId": updateID,
		"waitTimeoutMs": wait.Milliseconds()}
	var r UpdateResult
	if err := c.callWaiting(ctx, wait, "workflow/update", params, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
