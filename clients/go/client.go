package keel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// maxWaitPerCall is the longest server-side wait one workflow/result or activity/result call asks
// for (the protocol's default); longer waits repeat the call.
const maxWaitPerCall = 60 * time.Second

// waitSlack is added to a server-side wait before the local call gives up on an answer.
const waitSlack = 5 * time.Second

// ClientOptions choose where Keel is. The zero value uses KEEL_SOCKET, else KEEL_TCP + KEEL_TOKEN.
type ClientOptions struct {
	Socket, TCP, Token string
	// Sockets and TCPAddresses list several endpoints, tried in order after Socket or TCP: Dial
	// uses the first reachable one, a reconnect goes on from the next (docs/clients.md "Several
	// endpoints"). KEEL_SOCKET/KEEL_TCP may be comma-separated lists.
	Sockets, TCPAddresses []string
	// TLS makes a TCP connection speak TLS (nil: KEEL_TLS*, else clear text).
	TLS           *TLSOptions
	MaxFrameBytes int
	// ReconnectInitial and ReconnectMax shape the full-jitter reconnect backoff (defaults 100 ms
	// and 2 s); ReconnectTimeout bounds how long one call keeps reconnecting (default 30 s).
	ReconnectInitial, ReconnectMax, ReconnectTimeout time.Duration
}

// Client starts and inspects workflows and calls activities over one connection. It is safe for
// concurrent use. When Keel restarts, the next call reconnects; a call in flight at the drop is
// sent again when that is safe (a read, or keyed: a signal's request id and an update's id are
// keys), else it fails with ErrOutcomeUnknown (docs/clients.md "Reconnecting").
type Client struct {
	opts ClientOptions

	mu        sync.Mutex // guards conn, endpoints, backoff and closed; held while reconnecting
	conn      *Conn
	endpoints *endpointRing
	backoff   *backoff
	closed    bool
}

// Dial connects to the first reachable endpoint in order and initializes the connection. When
// none is reachable the error names each endpoint and why.
func Dial(ctx context.Context, opts ClientOptions) (*Client, error) {
	endpoints, err := ResolveEndpoints(endpointList(opts.Socket, opts.Sockets), endpointList(opts.TCP, opts.TCPAddresses), opts.Token, false)
	if err != nil {
		return nil, err
	}
	ring := newEndpointRing(withTLSAll(endpoints, opts.TLS))
	var failures []string
	for range endpoints {
		conn, err := openClientConn(ctx, ring.current(), opts)
		if err == nil {
			ring.succeeded()
			return &Client{opts: opts, conn: conn, endpoints: ring, backoff: newBackoff(opts.ReconnectInitial, opts.ReconnectMax)}, nil
		}
		var rpc *Error
		if len(endpoints) == 1 || (errors.As(err, &rpc) && (rpc.Code == CodeUnauthorized || rpc.Code == CodeUnsupportedProtocolVersion)) {
			return nil, err
		}
		failures = append(failures, fmt.Sprintf("%s: %v", ring.current(), err))
		ring.failed()
	}
	return nil, fmt.Errorf("keel: no Keel endpoint is reachable: %s", strings.Join(failures, "; "))
}

// openClientConn dials and runs initialize; the connection is closed again on failure.
func openClientConn(ctx context.Context, endpoint Endpoint, opts ClientOptions) (*Conn, error) {
	r, w, closer, err := dial(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	conn := NewConn(r, w, closer, ConnOptions{MaxFrameBytes: opts.MaxFrameBytes})
	conn.Handle("ping", func(context.Context, json.RawMessage) (any, error) { return struct{}{}, nil })
	conn.Start()
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := handshake(hctx, conn, endpoint); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Close closes the connection; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.conn.Close()
}

// Conn is the current underlying connection, for methods this type does not wrap.
func (c *Client) Conn() *Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// call makes one call, reconnecting first if the connection dropped, and repeats it after a drop
// only when safeToRepeat allows.
func (c *Client) call(ctx context.Context, method string, params, result any) error {
	for {
		conn, err := c.connected(ctx)
		if err != nil {
			return err
		}
		err = conn.Call(ctx, method, params, result)
		if !errors.Is(err, ErrClosed) || c.isClosed() {
			return err
		}
		if !safeToRepeat(method, params) {
			return &outcomeUnknownError{method: method}
		}
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// connected returns the live connection, reconnecting with backoff for up to ReconnectTimeout.
func (c *Client) connected(ctx context.Context) (*Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !isDone(c.conn.Done()) {
		return c.conn, nil
	}
	timeout := c.opts.ReconnectTimeout
	if timeout <= 0 {
		timeout = DefaultReconnectTimeout
	}
	deadline := time.Now().Add(timeout)
	c.endpoints.failed() // the connected endpoint dropped: start with the next one
	for {
		conn, err := openClientConn(ctx, c.endpoints.current(), c.opts)
		if err == nil {
			c.conn = conn
			c.backoff.reset()
			c.endpoints.succeeded()
			return conn, nil
		}
		var rpc *Error
		if errors.As(err, &rpc) && (rpc.Code == CodeUnauthorized || rpc.Code == CodeUnsupportedProtocolVersion) {
			return nil, err
		}
		if !c.endpoints.failed() {
			continue // try the next endpoint at once; wait only after a whole round
		}
		pause := c.backoff.next()
		if time.Now().Add(pause).After(deadline) {
			return nil, fmt.Errorf("keel: reconnecting for %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// StartOptions for StartWorkflow.
type StartOptions struct {
	// WorkflowID names the execution; "" lets Keel generate one.
	WorkflowID string
	// ConflictPolicy is "useExisting" (Keel's default) or "fail".
	ConflictPolicy string
	// Priority orders the execution's activity steps among ready tasks of the same activity
	// (-1000 to 1000, higher first); nil sends none (Keel's default 0). Every activity step of the
	// execution and its children inherits it unless the step sets its own.
	Priority *int
	// FairnessKey shares dispatch round-robin between keys within one priority (1 to 256
	// characters, e.g. a tenant id); "" sends none. Inherited like Priority.
	FairnessKey string
	// SearchAttributes are the execution's first search attributes, which ListWorkflows queries
	// match (docs/protocol.md, "Search attributes and memo"): at most 32 keys matching
	// ^[A-Za-z_][A-Za-z0-9_]{0,63}$, not built-in field names (workflowId, name, status,
	// createdAt, startedAt, updatedAt); values strings (at most 1,024 bytes; RFC 3339 strings are
	// also indexed as times), finite numbers or booleans. nil sends none. The workflow changes them
	// with WorkflowContext.UpsertSearchAttributes.
	SearchAttributes map[string]any
	// Memo is unindexed JSON (at most 32 KiB encoded) shown by DescribeWorkflow; nil sends none.
	// The workflow changes it with WorkflowContext.UpsertMemo.
	Memo map[string]any
	// SignalRequestID is for SignalWithStart only: it deduplicates the signal as
	// SignalOptions.RequestID does ("" sends a fresh random UUID). StartWorkflow, which sends no
	// signal, refuses it.
	SignalRequestID string
}

// Started is workflow/start's answer.
type Started struct {
	WorkflowID string `json:"workflowId"`
	Status     string `json:"status"`
	// Started is false when an execution with this id already existed ("useExisting").
	Started bool `json:"started"`
	// Signal is the signal's delivery for SignalWithStart (Delivered, Duplicate); nil for
	// StartWorkflow.
	Signal *Signaled `json:"signal,omitempty"`
}

// StartWorkflow starts workflow name with input. SignalWithStart also hands it a signal.
func (c *Client) StartWorkflow(ctx context.Context, name string, input any, opts StartOptions) (*Started, error) {
	if opts.SignalRequestID != "" {
		return nil, errors.New("keel: StartOptions.SignalRequestID is for SignalWithStart; StartWorkflow sends no signal")
	}
	var s Started
	if err := c.call(ctx, "workflow/start", startParams(name, input, opts), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// startParams are workflow/start's params for opts, each key only when set (SignalRequestID
// aside: SignalWithStart sends it inside "signal").
func startParams(name string, input any, opts StartOptions) map[string]any {
	params := map[string]any{"name": name, "input": input}
	if opts.WorkflowID != "" {
		params["workflowId"] = opts.WorkflowID
	}
	if opts.ConflictPolicy != "" {
		params["conflictPolicy"] = opts.ConflictPolicy
	}
	addPriority(params, opts.Priority, opts.FairnessKey)
	if opts.SearchAttributes != nil {
		params["searchAttributes"] = opts.SearchAttributes
	}
	if opts.Memo != nil {
		params["memo"] = opts.Memo
	}
	return params
}

// WorkflowStatus is workflow/result's answer (and part of workflow/describe's).
type WorkflowStatus struct {
	WorkflowID string          `json:"workflowId"`
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output,omitempty"`
	Failure    *Failure        `json:"failure,omitempty"`
}

// Done reports whether the status is final: completed, failed, cancelled, terminated or timedOut.
func (s *WorkflowStatus) Done() bool {
	switch s.Status {
	case "completed", "failed", "cancelled", "terminated", "timedOut":
		return true
	}
	return false
}

// WorkflowResult waits until the workflow ends (or ctx is done) and decodes its output into out
// (may be nil). A failed or cancelled workflow returns its status and its *Failure; when ctx
// ends first it returns ctx's error.
func (c *Client) WorkflowResult(ctx context.Context, workflowID string, out any) (*WorkflowStatus, error) {
	for {
		var s WorkflowStatus
		wait := waitFor(ctx)
		params := map[string]any{"workflowId": workflowID, "waitTimeoutMs": wait.Milliseconds()}
		if err := c.callWaiting(ctx, wait, "workflow/result", params, &s); err != nil {
			return nil, err
		}
		switch {
		case s.Status == "completed":
			if out != nil && len(s.Output) > 0 {
				return &s, json.Unmarshal(s.Output, out)
			}
			return &s, nil
		case s.Done():
			if s.Failure == nil {
				s.Failure = &Failure{Type: "Cancelled", Message: "workflow " + s.Status, NonRetryable: true}
			}
			return &s, s.Failure
		case ctx.Err() != nil:
			return &s, ctx.Err()
		}
	}
}

// SignalWorkflow sends signal name with payload (may be nil): recorded durably, in order, and
// buffered until the workflow waits for it. It carries a fresh request id, so it is sent again
// after a dropped connection without being delivered twice; SignalWorkflowWithOptions chooses the
// id and returns the answer.
func (c *Client) SignalWorkflow(ctx context.Context, workflowID, name string, payload any) error {
	_, err := c.SignalWorkflowWithOptions(ctx, workflowID, name, payload, SignalOptions{})
	return err
}

// SignalOptions for SignalWorkflowWithOptions.
type SignalOptions struct {
	// RequestID deduplicates the signal (1 to 512 bytes): Keel delivers the first workflow/signal
	// with a given id for a workflow and answers any later one Duplicate without delivering it.
	// "" sends a fresh random UUID. Give your own to make a retry after a restart of your process
	// deduplicate too.
	RequestID string
}

// Signaled is workflow/signal's answer, and the "signal" of SignalWithStart's (where Consumed
// is always false).
type Signaled struct {
	Delivered bool `json:"delivered"`
	// Consumed: a waiting step took the signal at once.
	Consumed bool `json:"consumed"`
	// Duplicate: a signal with the same request id was delivered before; this one delivered nothing.
	Duplicate bool `json:"duplicate"`
}

// SignalWorkflowWithOptions is SignalWorkflow with a chosen request id, returning Keel's answer.
func (c *Client) SignalWorkflowWithOptions(ctx context.Context, workflowID, name string, payload any, opts SignalOptions) (*Signaled, error) {
	requestID := opts.RequestID
	if requestID == "" {
		requestID = newUUID()
	}
	params := map[string]any{"workflowId": workflowID, "name": name, "requestId": requestID}
	if payload != nil {
		params["payload"] = payload
	}
	var s Signaled
	if err := c.call(ctx, "workflow/signal", params, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// newUUID is a random (version 4) UUID in lowercase.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("keel: no randomness for a request id: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// CancelWorkflow asks the workflow to stop; it sees a "Cancelled" Failure at its current step and
// may run compensations. It returns the workflow's status.
func (c *Client) CancelWorkflow(ctx context.Context, workflowID, reason string) (string, error) {
	params := map[string]any{"workflowId": workflowID}
	if reason != "" {
		params["reason"] = reason
	}
	var result struct {
		Status string `json:"status"`
	}
	err := c.call(ctx, "workflow/cancel", params, &result)
	return result.Status, err
}

// WorkflowDescription is workflow/describe's answer.
type WorkflowDescription struct {
	WorkflowID   string          `json:"workflowId"`
	Name         string          `json:"name"`
	Status       string          `json:"status"`
	RunID        json.RawMessage `json:"runId"`
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output,omitempty"`
	Failure      *Failure        `json:"failure,omitempty"`
	CurrentStep  json.RawMessage `json:"currentStep,omitempty"`
	PendingSteps json.RawMessage `json:"pendingSteps,omitempty"`
	CreatedAtMs  int64           `json:"createdAtMs"`
	UpdatedAtMs  int64           `json:"updatedAtMs"`
	ParentID     string          `json:"parentId,omitempty"`
	// Priority and FairnessKey are the execution's (StartOptions); FairnessKey is "" when unset.
	Priority    int    `json:"priority"`
	FairnessKey string `json:"fairnessKey,omitempty"`
	// SearchAttributes and Memo are the execution's (StartOptions, then the workflow's upserts);
	// nil when none are set.
	SearchAttributes map[string]any `json:"searchAttributes,omitempty"`
	Memo             map[string]any `json:"memo,omitempty"`
}

// DescribeWorkflow returns the workflow's state.
func (c *Client) DescribeWorkflow(ctx context.Context, workflowID string) (*WorkflowDescription, error) {
	var d WorkflowDescription
	if err := c.call(ctx, "workflow/describe", map[string]string{"workflowId": workflowID}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// CallOptions for CallActivity.
type CallOptions struct {
	// IdempotencyKey returns the stored task for a repeated call instead of running it again.
	IdempotencyKey string
	// NoWait returns at once with status "scheduled"; fetch the result with ActivityResult.
	NoWait      bool
	RetryPolicy *RetryPolicy
	Timeouts    *Timeouts
	// Priority orders this task among ready tasks of the same activity (-1000 to 1000, higher
	// first); nil sends none (Keel's default 0).
	Priority *int
	// FairnessKey shares dispatch round-robin between keys within one priority (1 to 256
	// characters, e.g. a tenant id); "" sends none (tasks without a key share one).
	FairnessKey string
}

// ActivityResult is the answer of activity/call and activity/result.
type ActivityResult struct {
	TaskID string `json:"taskId"`
	// Status is scheduled, running, completed, failed, timedOut or cancelled.
	Status   string          `json:"status"`
	Attempts int             `json:"attempts"`
	Output   json.RawMessage `json:"output,omitempty"`
	Failure  *Failure        `json:"failure,omitempty"`
}

// Done reports whether the task has ended.
func (r *ActivityResult) Done() bool {
	return r.Status != "scheduled" && r.Status != "running" && r.Status != ""
}

// CallActivity runs one durable activity call (activity/call) and, unless NoWait, waits until it
// ends or ctx is done (then the current status is returned with ctx.Err()). A failed task is not
// an error: see ActivityResult.Failure. It returns an *Error for e.g. 3001
// inputContractViolation or 4002 idempotencyConflict.
func (c *Client) CallActivity(ctx context.Context, name string, input any, opts CallOptions) (*ActivityResult, error) {
	params := map[string]any{"name": name, "input": input, "wait": !opts.NoWait}
	if opts.IdempotencyKey != "" {
		params["idempotencyKey"] = opts.IdempotencyKey
	}
	if opts.RetryPolicy != nil {
		params["retryPolicy"] = opts.RetryPolicy
	}
	if opts.Timeouts != nil {
		params["timeouts"] = opts.Timeouts
	}
	addPriority(params, opts.Priority, opts.FairnessKey)
	wait := time.Duration(0)
	if !opts.NoWait {
		wait = waitFor(ctx)
		params["waitTimeoutMs"] = wait.Milliseconds()
	}
	var r ActivityResult
	if err := c.callWaiting(ctx, wait, "activity/call", params, &r); err != nil {
		return nil, err
	}
	if opts.NoWait || r.Done() {
		return &r, nil
	}
	return c.ActivityResult(ctx, r.TaskID)
}

// Priority returns a pointer to n, for the Priority field of CallOptions, StartOptions and
// StepOptions: keel.CallOptions{Priority: keel.Priority(9)}.
func Priority(n int) *int { return &n }

// addPriority sets the wire keys priority and fairnessKey, each only when the caller set it.
func addPriority(params map[string]any, priority *int, fairnessKey string) {
	if priority != nil {
		params["priority"] = *priority
	}
	if fairnessKey != "" {
		params["fairnessKey"] = fairnessKey
	}
}

// ActivityResult waits until task taskID ends (or ctx is done) and returns its result.
func (c *Client) ActivityResult(ctx context.Context, taskID string) (*ActivityResult, error) {
	for {
		var r ActivityResult
		wait := waitFor(ctx)
		params := map[string]any{"taskId": taskID, "waitTimeoutMs": wait.Milliseconds()}
		if err := c.callWaiting(ctx, wait, "activity/result", params, &r); err != nil {
			return nil, err
		}
		if r.Done() {
			return &r, nil
		}
		if ctx.Err() != nil {
			return &r, ctx.Err()
		}
	}
}

// CancelActivity cancels task taskID and returns its status.
func (c *Client) CancelActivity(ctx context.Context, taskID string) (string, error) {
	var result struct {
		Status string `json:"status"`
	}
	err := c.call(ctx, "activity/cancel", map[string]string{"taskId": taskID}, &result)
	return result.Status, err
}

// Workers lists the connected workers (worker/list) as wire objects.
func (c *Client) Workers(ctx context.Context) ([]json.RawMessage, error) {
	var result struct {
		Workers []json.RawMessage `json:"workers"`
	}
	err := c.call(ctx, "worker/list", nil, &result)
	return result.Workers, err
}

// Ping makes one round trip to Keel.
func (c *Client) Ping(ctx context.Context) error { return c.call(ctx, "ping", nil, nil) }

// callWaiting makes a call whose answer Keel may hold for up to wait, giving up waitSlack later.
func (c *Client) callWaiting(ctx context.Context, wait time.Duration, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(ctx, wait+waitSlack)
	defer cancel()
	return c.call(ctx, method, params, result)
}

// waitFor is the server-side wait of one call: up to maxWaitPerCall, and not past ctx's deadline.
func waitFor(ctx context.Context) time.Duration {
	wait := maxWaitPerCall
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < wait {
			wait = left
		}
	}
	if wait < 0 {
		wait = 0
	}
	return wait
}
