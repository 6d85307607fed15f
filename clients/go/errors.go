package keel

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// JSON-RPC error codes (docs/protocol.md; every code has an entry in docs/errors.md).
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	// Protocol and transport state.
	CodeNotInitialized             = -32000
	CodeUnsupportedProtocolVersion = -32001
	CodeMessageTooLarge            = -32002
	// CodeShuttingDown refuses new work while a worker drains. Not yet in docs/protocol.md: STYLE §4
	// lists "shutting down" in the -32000 range and the Python client uses -32003 for it too.
	CodeShuttingDown = -32003
	CodeUnauthorized = -32004
	// Domain errors.
	// CodeWorkflowNotFound: no execution has the workflowId, or (workflow/signal, SignalWithStart)
	// its execution has ended.
	CodeWorkflowNotFound = 1001
	CodeNonDeterminism   = 1003
	// CodeInvalidQuery: a workflow/list (or workflow/batch) query that does not parse; the message
	// names the token and its position, Data is {query, position, term}.
	CodeInvalidQuery = 1013
	// CodeScheduleNotFound: no schedule has the scheduleId (schedule/describe, pause, ...).
	CodeScheduleNotFound = 1020
	// CodeScheduleAlreadyExists: schedule/create with a scheduleId in use.
	CodeScheduleAlreadyExists = 1021
	// CodeQueryNotFound: workflow/query for a name the workflow never set with
	// WorkflowContext.SetQueryValue; Data is {workflowId, name, known}, known listing the names
	// it did set.
	CodeQueryNotFound = 1030
	// CodeUpdateUnanswered: Client.UpdateWorkflow for a workflow that ended (completed, failed,
	// cancelled, ...) without answering the update; Data is {workflowId, updateId, status}.
	CodeUpdateUnanswered       = 1031
	CodeContractConflict       = 2005
	CodeAttemptSuperseded      = 2006
	CodeInputContractViolation = 3001
	CodeIdempotencyConflict    = 4002
)

// Error is a JSON-RPC error object received from (or sent to) the peer.
type Error struct {
	// Code is the stable integer code; see docs/errors.md.
	Code int `json:"code"`
	// Message is one sentence saying what went wrong.
	Message string `json:"message"`
	// Data is the wire error.data, shaped per code; nil when absent.
	Data json.RawMessage `json:"data,omitempty"`
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("keel: %s (code %d)", e.Message, e.Code) }

// newError builds an *Error whose data is any JSON-encodable value.
func newError(code int, message string, data any) *Error {
	e := &Error{Code: code, Message: message}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	return e
}

// ErrClosed reports that the connection to Keel is closed. It is local and never sent on the wire.
var ErrClosed = errors.New("keel: connection closed")

// Failure is a failed step, activity or workflow as data: the wire object
// {type, message, retryable, retryAfterMs?, details}. A failure in user code is not a JSON-RPC
// error (docs/protocol.md, activity/execute).
//
// Return a *Failure from an activity to choose the type, retryability and details; any other
// error is reported as retryable with Type set to the error's Go type name. Workflow steps
// return a *Failure when the step failed (an activity that exhausted its retries, a cancel
// request: Type "Cancelled", a signal wait that timed out: Type "TimedOut").
type Failure struct {
	// Type is matched against a retry policy's nonRetryableErrorTypes.
	Type string
	// Message is a human-readable description.
	Message string
	// NonRetryable ends the task as failed. The zero value is retryable, as for any error.
	NonRetryable bool
	// RetryAfter is the minimum delay before the next attempt; zero means the policy decides.
	RetryAfter time.Duration
	// Details is any JSON value; a received failure holds a json.RawMessage (or nil).
	Details any
}

// Error implements error.
func (f *Failure) Error() string {
	if f.Message == "" {
		return f.Type
	}
	return f.Type + ": " + f.Message
}

type wireFailure struct {
	Type         string          `json:"type"`
	Message      string          `json:"message"`
	Retryable    bool            `json:"retryable"`
	RetryAfterMs *int64          `json:"retryAfterMs,omitempty"`
	Details      json.RawMessage `json:"details"`
}

// MarshalJSON encodes the wire failure object; "details" is always present (null when unset).
func (f *Failure) MarshalJSON() ([]byte, error) {
	w := wireFailure{Type: f.Type, Message: f.Message, Retryable: !f.NonRetryable, Details: json.RawMessage("null")}
	if f.RetryAfter > 0 {
		ms := f.RetryAfter.Milliseconds()
		w.RetryAfterMs = &ms
	}
	if f.Details != nil {
		details, err := json.Marshal(f.Details)
		if err != nil {
			return nil, fmt.Errorf("failure details: %w", err)
		}
		w.Details = details
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a wire failure object, tolerating missing fields.
func (f *Failure) UnmarshalJSON(data []byte) error {
	var w struct {
		Type         string          `json:"type"`
		Message      string          `json:"message"`
		Retryable    *bool           `json:"retryable"`
		RetryAfterMs *float64        `json:"retryAfterMs"`
		Details      json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*f = Failure{Type: w.Type, Message: w.Message, NonRetryable: w.Retryable != nil && !*w.Retryable}
	if w.RetryAfterMs != nil {
		f.RetryAfter = time.Duration(*w.RetryAfterMs * float64(time.Millisecond))
	}
	if len(w.Details) > 0 && string(w.Details) != "null" {
		f.Details = w.Details
	}
	return nil
}

// IsCancelled reports whether err is (or wraps) a Failure of type "Cancelled": the workflow
// was cancelled while waiting at a step. Catch it to run compensations, then return it.
func IsCancelled(err error) bool { return failureType(err) == "Cancelled" }

// IsTimedOut reports whether err is (or wraps) a Failure of type "TimedOut", e.g. a signal wait
// that timed out.
func IsTimedOut(err error) bool { return failureType(err) == "TimedOut" }

func failureType(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Type
	}
	return ""
}

// failureFrom turns any error returned by user code into the failure to report.
// "Client libraries report an uncaught exception as retryable with type = its class name."
func failureFrom(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var rpc *Error
	if errors.As(err, &rpc) {
		return &Failure{Type: "KeelError", Message: rpc.Message, Details: map[string]any{"code": rpc.Code, "data": rpc.Data}}
	}
	return &Failure{Type: typeName(err), Message: err.Error()}
}

// typeName is the Go type name of err without pointer or package ("*main.CrashError" →
// "CrashError"). The anonymous error types of errors.New and fmt.Errorf become "Error".
func typeName(err error) string {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" || t.PkgPath() == "errors" || t.PkgPath() == "fmt" {
		return "Error"
	}
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 { // generic instantiation
		name = name[:i]
	}
	return name
}
