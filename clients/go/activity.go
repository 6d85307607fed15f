package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// heartbeatCallTimeout bounds one heartbeat round trip; a heartbeat that times out is logged and
// the activity goes on.
const heartbeatCallTimeout = 10 * time.Second

// UnlimitedAttempts as RetryPolicy.MaximumAttempts retries without limit (wire maximumAttempts: 0).
const UnlimitedAttempts = -1

// RetryPolicy says how Keel retries a failed attempt. Zero fields are not sent and take Keel's
// defaults.
type RetryPolicy struct {
	InitialInterval    time.Duration
	BackoffCoefficient float64
	MaximumInterval    time.Duration
	// MaximumAttempts: 0 is Keel's default, UnlimitedAttempts means no limit.
	MaximumAttempts        int
	NonRetryableErrorTypes []string
}

// MarshalJSON encodes only the fields set, in milliseconds ("durations are integer milliseconds
// in fields ending Ms").
func (p RetryPolicy) MarshalJSON() ([]byte, error) {
	o := newObject()
	if p.InitialInterval > 0 {
		o.set("initialIntervalMs", p.InitialInterval.Milliseconds())
	}
	if p.BackoffCoefficient != 0 {
		o.set("backoffCoefficient", p.BackoffCoefficient)
	}
	if p.MaximumInterval > 0 {
		o.set("maximumIntervalMs", p.MaximumInterval.Milliseconds())
	}
	if p.MaximumAttempts == UnlimitedAttempts {
		o.set("maximumAttempts", 0)
	} else if p.MaximumAttempts > 0 {
		o.set("maximumAttempts", p.MaximumAttempts)
	}
	if p.NonRetryableErrorTypes != nil {
		o.set("nonRetryableErrorTypes", p.NonRetryableErrorTypes)
	}
	return o.MarshalJSON()
}

// Timeouts bound an activity. Zero fields are not sent.
type Timeouts struct {
	StartToClose, ScheduleToStart, ScheduleToClose, Heartbeat time.Duration
}

// MarshalJSON encodes only the fields set, in milliseconds.
func (t Timeouts) MarshalJSON() ([]byte, error) {
	o := newObject()
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"startToCloseMs", t.StartToClose}, {"scheduleToStartMs", t.ScheduleToStart},
		{"scheduleToCloseMs", t.ScheduleToClose}, {"heartbeatTimeoutMs", t.Heartbeat}} {
		if f.d > 0 {
			o.set(f.key, f.d.Milliseconds())
		}
	}
	return o.MarshalJSON()
}

// ActivityOptions declare an activity's contract and policies. The input and output schemas come
// from, in order: Input/Output here, a contract file loaded with Worker.LoadContracts, the Go
// types of the function (SchemaFor).
type ActivityOptions struct {
	Description   string
	Input, Output json.RawMessage
	RetryPolicy   *RetryPolicy
	Timeouts      *Timeouts
}

// ActivityInfo is what an activity knows about its attempt; see GetActivityInfo.
type ActivityInfo struct {
	TaskID           string
	Name             string
	Attempt          int
	IdempotencyKey   string
	Deadline         time.Time // zero when none
	HeartbeatTimeout time.Duration
	// HeartbeatDetails holds the last details the previous attempt sent (nil if none).
	HeartbeatDetails json.RawMessage
	WorkflowID       string
}

// activityRun is one running attempt.
type activityRun struct {
	info   ActivityInfo
	token  string // activity/execute's attemptToken ("" when none), echoed by Publish
	conn   *Conn
	cancel context.CancelFunc
	mu     sync.Mutex
	reason string // why it was cancelled; "" while it runs
}

func (a *activityRun) cancelWith(reason string) {
	a.mu.Lock()
	if a.reason == "" {
		a.reason = reason
	}
	a.mu.Unlock()
	a.cancel()
}

func (a *activityRun) cancelReason() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason
}

type activityKey struct{}

// GetActivityInfo returns the attempt running with ctx, or nil outside an activity.
func GetActivityInfo(ctx context.Context) *ActivityInfo {
	if a, ok := ctx.Value(activityKey{}).(*activityRun); ok {
		info := a.info
		return &info
	}
	return nil
}

// Heartbeat sends activity/heartbeat for the activity running with ctx: it resets the heartbeat
// timeout and stores details for the next attempt. It blocks until Keel answers (at most 10 s).
//
// cancelled is true when the attempt was cancelled ("cancelled: true means the task was
// cancelled: stop and return"), superseded (2006 attemptSuperseded), or the connection is gone;
// ctx is then cancelled too. Other failures are returned as err and the activity may go on.
func Heartbeat(ctx context.Context, details any) (cancelled bool, err error) {
	a, ok := ctx.Value(activityKey{}).(*activityRun)
	if !ok {
		return false, errors.New("keel: Heartbeat called outside an activity")
	}
	if a.cancelReason() != "" {
		return true, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, heartbeatCallTimeout)
	defer cancel()
	var result struct {
		Cancelled bool `json:"cancelled"`
	}
	params := map[string]any{"taskId": a.info.TaskID, "attempt": a.info.Attempt, "details": details}
	err = a.conn.Call(callCtx, "activity/heartbeat", params, &result)
	var rpc *Error
	switch {
	case err == nil && result.Cancelled:
		a.cancelWith("cancelled (heartbeat answer)")
		return true, nil
	case err == nil:
		return false, nil
	case errors.As(err, &rpc) && rpc.Code == CodeAttemptSuperseded:
		a.cancelWith("attempt superseded: " + rpc.Message)
		return true, nil
	case errors.Is(err, ErrClosed):
		a.cancelWith("connection to Keel lost")
		return true, err
	case ctx.Err() != nil:
		return a.cancelReason() != "", ctx.Err()
	}
	return false, fmt.Errorf("keel: heartbeat for %s: %w", a.info.TaskID, err)
}

// activityDef is one registered activity.
type activityDef struct {
	wire activityWire
	run  func(ctx context.Context, input json.RawMessage) (any, error)
}

type activityWire struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	RetryPolicy json.RawMessage `json:"retryPolicy,omitempty"`
	Timeouts    json.RawMessage `json:"timeouts,omitempty"`
}

// RegisterActivity registers fn as activity name on w. Call before Run.
//
// The input is decoded from JSON into I (an input that does not fit fails the attempt, not
// retryable, type "InvalidInput") and the output encoded from O. Return a *Failure to choose the
// failure's type, retryability and details; any other error is retryable with Type = its Go type
// name, and a panic is a retryable failure of type "Panic". ctx is cancelled when Keel cancels
// the attempt (activity/cancel, a heartbeat answer), the deadline passes, or the connection ends.
//
// It panics, as http.Handle does, on an invalid or duplicate name or a type it cannot describe.
func RegisterActivity[I, O any](w *Worker, name string, fn func(ctx context.Context, input I) (O, error), opts ...ActivityOptions) {
	var o ActivityOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	var in I
	var out O
	wire := activityWire{Name: name, Description: o.Description}
	wire.Input, wire.Output = mustSchemas(name, o.Input, o.Output, w.contracts[name], typeOf(&in), typeOf(&out))
	if o.RetryPolicy != nil {
		wire.RetryPolicy, _ = json.Marshal(o.RetryPolicy)
	}
	if o.Timeouts != nil {
		wire.Timeouts, _ = json.Marshal(o.Timeouts)
	}
	if c := w.contracts[name]; c != nil {
		if wire.Description == "" {
			wire.Description = c.Description
		}
		if wire.RetryPolicy == nil {
			wire.RetryPolicy = c.RetryPolicy
		}
		if wire.Timeouts == nil {
			wire.Timeouts = c.Timeouts
		}
	}
	w.addActivity(activityDef{wire: wire, run: func(ctx context.Context, raw json.RawMessage) (any, error) {
		var input I
		if err := decodeInput(raw, &input); err != nil {
			return nil, err
		}
		return fn(ctx, input)
	}})
}

func decodeInput(raw json.RawMessage, into any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return &Failure{Type: "InvalidInput", Message: fmt.Sprintf("input does not fit %T: %v", into, err), NonRetryable: true}
	}
	return nil
}

// Contract is a contract file: {name, version, input, output, description?, retryPolicy?, timeouts?}.
type Contract struct {
	Name        string          `json:"name"`
	Version     json.RawMessage `json:"version"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output"`
	Description string          `json:"description,omitempty"`
	RetryPolicy json.RawMessage `json:"retryPolicy,omitempty"`
	Timeouts    json.RawMessage `json:"timeouts,omitempty"`
}

// LoadContracts reads every *.json contract file in dir; RegisterActivity and RegisterWorkflow then
// take the contract of the same name. Call before registering.
func (w *Worker) LoadContracts(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var c Contract
		if err := json.Unmarshal(data, &c); err != nil || c.Name == "" {
			return fmt.Errorf("keel: %s: a contract is an object with a string \"name\" (%v)", path, err)
		}
		var missing []string
		for key, v := range map[string]json.RawMessage{"version": c.Version, "input": c.Input, "output": c.Output} {
			if len(v) == 0 {
				missing = append(missing, key)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("keel: %s: contract %q lacks %s", path, c.Name, strings.Join(missing, ", "))
		}
		if w.contracts[c.Name] != nil {
			return fmt.Errorf("keel: %s: a second contract for %q", path, c.Name)
		}
		w.contracts[c.Name] = &c
	}
	return nil
}

// mustSchemas picks the input and output schemas: explicit, else the contract, else derived.
func mustSchemas(name string, in, out json.RawMessage, c *Contract, inType, outType any) (json.RawMessage, json.RawMessage) {
	pick := func(explicit, contract json.RawMessage, t any) json.RawMessage {
		if explicit != nil {
			return explicit
		}
		if contract != nil {
			return contract
		}
		s, err := SchemaFor(t)
		if err != nil {
			panic(fmt.Sprintf("keel: %s: %v", name, err))
		}
		return s
	}
	var ci, co json.RawMessage
	if c != nil {
		ci, co = c.Input, c.Output
	}
	return pick(in, ci, inType), pick(out, co, outType)
}

// typeOf returns a zero value of *p's type for SchemaFor, or nil for interface types.
func typeOf[T any](p *T) any {
	var zero T
	if any(zero) == nil { // an interface type: nothing to derive
		return nil
	}
	return zero
}

// Executing activities

type executeParams struct {
	TaskID             string          `json:"taskId"`
	Name               string          `json:"name"`
	Input              json.RawMessage `json:"input"`
	Attempt            int             `json:"attempt"`
	IdempotencyKey     string          `json:"idempotencyKey"`
	DeadlineMs         int64           `json:"deadlineMs"`
	HeartbeatTimeoutMs int64           `json:"heartbeatTimeoutMs"`
	HeartbeatDetails   json.RawMessage `json:"heartbeatDetails"`
	WorkflowID         string          `json:"workflowId"`
	AttemptToken       string          `json:"attemptToken"`
}

func (w *Worker) acceptExecute(conn *Conn) acceptFunc {
	return func(raw json.RawMessage) (func(context.Context) (any, error), error) {
		var p executeParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, newError(CodeInvalidParams, "Invalid params: "+err.Error(), nil)
		}
		if !w.begin() {
			return nil, errShuttingDown
		}
		return func(ctx context.Context) (any, error) {
			defer w.end()
			return w.execute(ctx, conn, p), nil
		}, nil
	}
}

func (w *Worker) execute(ctx context.Context, conn *Conn, p executeParams) map[string]any {
	var def *activityDef
	for i := range w.activities {
		if w.activities[i].wire.Name == p.Name {
			def = &w.activities[i]
		}
	}
	if def == nil {
		return map[string]any{"failure": &Failure{Type: "ActivityNotRegistered",
			Message: fmt.Sprintf("this worker does not serve activity %q", p.Name)}}
	}
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	case <-ctx.Done():
		return map[string]any{"failure": &Failure{Type: "Cancelled", Message: "connection closed", NonRetryable: true}}
	}
	run := &activityRun{conn: conn, token: p.AttemptToken, info: ActivityInfo{TaskID: p.TaskID, Name: p.Name, Attempt: p.Attempt,
		IdempotencyKey: p.IdempotencyKey, HeartbeatTimeout: time.Duration(p.HeartbeatTimeoutMs) * time.Millisecond,
		WorkflowID: p.WorkflowID}}
	if len(p.HeartbeatDetails) > 0 && string(p.HeartbeatDetails) != "null" {
		run.info.HeartbeatDetails = p.HeartbeatDetails
	}
	actx, cancel := context.WithCancel(context.WithValue(ctx, activityKey{}, run))
	if p.DeadlineMs > 0 {
		run.info.Deadline = time.UnixMilli(p.DeadlineMs)
		actx, cancel = context.WithDeadline(actx, run.info.Deadline)
	}
	run.cancel = cancel
	defer cancel()
	key := activityRunKey{p.TaskID, p.Attempt}
	w.mu.Lock()
	w.running[key] = run
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.running[key] == run {
			delete(w.running, key)
		}
		w.mu.Unlock()
	}()

	output, err := callActivity(actx, def, p.Input)
	if reason := run.cancelReason(); reason != "" && (err != nil || actx.Err() != nil) {
		// "The handler should stop; its answer to activity/execute is then ignored."
		return map[string]any{"failure": &Failure{Type: "Cancelled", Message: reason, NonRetryable: true}}
	}
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			w.logger.Printf("activity %s (task %s, attempt %d) failed: %v", p.Name, p.TaskID, p.Attempt, err)
		}
		return map[string]any{"failure": failureFrom(err)}
	}
	return w.outputAnswer(conn, output)
}

func callActivity(ctx context.Context, def *activityDef, input json.RawMessage) (output any, err error) {
	defer func() {
		if p := recover(); p != nil {
			output, err = nil, &Failure{Type: "Panic", Message: fmt.Sprint(p)}
		}
	}()
	return def.run(ctx, input)
}

// outputAnswer encodes the output, or a non-retryable failure when it cannot be sent (the same
// code would produce the same output).
func (w *Worker) outputAnswer(conn *Conn, output any) map[string]any {
	encoded, err := json.Marshal(output)
	if err != nil {
		return map[string]any{"failure": &Failure{Type: "OutputNotSerializable",
			Message: "activity output is not JSON: " + err.Error(), NonRetryable: true}}
	}
	conn.mu.Lock()
	limit := conn.peerMax
	conn.mu.Unlock()
	if limit > 0 && len(encoded) > limit-outputEnvelopeBytes {
		return map[string]any{"failure": &Failure{Type: "OutputTooLarge", NonRetryable: true,
			Message: fmt.Sprintf("a %d-byte output exceeds the %d-byte frame limit", len(encoded), limit),
			Details: map[string]int{"bytes": len(encoded), "limit": limit}}}
	}
	return map[string]any{"output": json.RawMessage(encoded)}
}
