package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// unwindGrace bounds how long a run waits, once it must unwind (a step answered suspend), for
// the workflow goroutine to end. A workflow blocked outside keel (say on its own channel) is
// then left behind, logged, and the run answers anyway.
const unwindGrace = 2 * time.Second

// WorkflowOptions declare a workflow's contract. Schemas come from Input/Output, else a loaded
// contract file, else the Go types of the function.
type WorkflowOptions struct {
	Description   string
	Input, Output json.RawMessage
}

// StepOptions set an activity step's retry policy, timeouts, priority and fairness key.
type StepOptions struct {
	RetryPolicy *RetryPolicy `json:"retryPolicy,omitempty"`
	Timeouts    *Timeouts    `json:"timeouts,omitempty"`
	// Priority orders the step's task among ready tasks of the same activity (-1000 to 1000,
	// higher first); nil sends none, so the execution's priority applies (StartOptions.Priority).
	Priority *int `json:"priority,omitempty"`
	// FairnessKey shares dispatch round-robin between keys within one priority (1 to 256
	// characters); "" sends none, so the execution's key applies.
	FairnessKey string `json:"fairnessKey,omitempty"`
}

// empty reports whether o sets nothing (the step then sends no options).
func (o StepOptions) empty() bool {
	return o.RetryPolicy == nil && o.Timeouts == nil && o.Priority == nil && o.FairnessKey == ""
}

type workflowDef struct {
	wire workflowWire
	run  func(wf *WorkflowContext, input json.RawMessage) (any, error)
}

type workflowWire struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
}

// RegisterWorkflow registers fn as workflow name on w. Call before Run.
//
// fn runs in its own goroutine and is re-run from the start on every workflow/run: each durable
// step goes through wf, and steps already in the journal return at once (replay). So fn must be
// deterministic: no clocks, randomness, I/O or goroutines of its own; use wf.Now, wf.Random,
// wf.UUID, activities, and Futures for parallel steps. Return wf.ContinueAsNew(input) to start
// over with an empty journal. It panics on an invalid or duplicate name.
func RegisterWorkflow[I, O any](w *Worker, name string, fn func(wf *WorkflowContext, input I) (O, error), opts ...WorkflowOptions) {
	var o WorkflowOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	var in I
	var out O
	wire := workflowWire{Name: name, Description: o.Description}
	wire.Input, wire.Output = mustSchemas(name, o.Input, o.Output, w.contracts[name], typeOf(&in), typeOf(&out))
	if c := w.contracts[name]; c != nil && wire.Description == "" {
		wire.Description = c.Description
	}
	w.checkName("workflow", name)
	w.workflows = append(w.workflows, workflowDef{wire: wire, run: func(wf *WorkflowContext, raw json.RawMessage) (any, error) {
		var input I
		if err := decodeInput(raw, &input); err != nil {
			return nil, err
		}
		return fn(wf, input)
	}})
}

type workflowRunParams struct {
	WorkflowID      string          `json:"workflowId"`
	RunID           json.RawMessage `json:"runId"`
	Name            string          `json:"name"`
	Input           json.RawMessage `json:"input"`
	Journal         []journalEntry  `json:"journal"`
	CancelRequested bool            `json:"cancelRequested"`
}

type journalEntry struct {
	Seq     int             `json:"seq"`
	Kind    string          `json:"kind"`
	Name    string          `json:"name"`
	Status  string          `json:"status"`
	Result  json.RawMessage `json:"result"`
	Failure *Failure        `json:"failure"`
}

// WorkflowContext is a workflow's handle on its execution. Its methods are the workflow's
// durable steps; each blocks until the step's outcome is known. They may be called from several
// goroutines, but seq numbers are assigned in call order, so call them in an order that does not
// depend on scheduling (start parallel steps from one goroutine and wait on their Futures).
type WorkflowContext struct {
	run *workflowRun
}

// ContinueAsNewError asks Keel to start the workflow over with Input and an empty journal.
// Create it with WorkflowContext.ContinueAsNew and return it from the workflow.
type ContinueAsNewError struct {
	Input any
}

// Error implements error.
func (e *ContinueAsNewError) Error() string { return "keel: continue as new" }

type unwindReason int

const (
	running        unwindReason = iota
	suspended                   // a step answered suspend
	nondeterminism              // the code's steps differ from the journal
	aborted                     // the connection ended or the run was superseded
)

type workflowRun struct {
	conn    *Conn
	params  workflowRunParams
	journal map[int]journalEntry

	mu      sync.Mutex
	seq     int
	patches map[string]patchAnswer // patched() answers by patch id, memoized for the run
	reason  unwindReason
	failure *Failure      // the NonDeterminism failure
	unwound chan struct{} // closed when the run starts unwinding

	finished, answered bool // the function returned; the run's answer was decided
	output             any
	err                error
}

func (r *workflowRun) finish(output any, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.answered {
		r.finished, r.output, r.err = true, output, err
	}
}

// unwind records why the run ends early (the first reason wins) and wakes every waiting step.
func (r *workflowRun) unwind(reason unwindReason, failure *Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason == running {
		r.reason, r.failure = reason, failure
		close(r.unwound)
	}
}

// WorkflowID is this execution's id.
func (wf *WorkflowContext) WorkflowID() string { return wf.run.params.WorkflowID }

// CancelRequested reports whether a client asked to cancel the workflow before this run began;
// the step where the workflow waits then fails with a "Cancelled" Failure.
func (wf *WorkflowContext) CancelRequested() bool { return wf.run.params.CancelRequested }

// ContinueAsNew returns the error that, returned from the workflow, starts it over with input
// and an empty journal (bounded history for loops).
func (wf *WorkflowContext) ContinueAsNew(input any) error { return &ContinueAsNewError{Input: input} }

// Activity starts activity name with input and returns its Future at once; the step's seq is
// assigned now, in program order. Several may run in parallel.
func (wf *WorkflowContext) Activity(name string, input any, opts ...StepOptions) *Future {
	var options *StepOptions
	if len(opts) > 0 && !opts[0].empty() {
		options = &opts[0]
	}
	return wf.run.step("activity", name, input, options)
}

// ChildOptions set a child workflow's own search attributes and memo, with the rules of
// StartOptions.SearchAttributes and StartOptions.Memo (docs/protocol.md, "Search attributes and
// memo"); Keel checks them as workflow/start does and fails the child step when they break them.
type ChildOptions struct {
	// SearchAttributes are the child execution's first search attributes, which ListWorkflows
	// queries match (keys and values as for StartOptions.SearchAttributes); nil sends none.
	SearchAttributes map[string]any
	// Memo is the child execution's unindexed JSON (at most 32 KiB encoded) shown by
	// DescribeWorkflow; nil sends none.
	Memo map[string]any
}

// Child starts child workflow name with input (workflowID "" lets Keel choose) and returns a
// Future of its output; Get waits for the child to end. An optional ChildOptions gives the child
// its own search attributes and memo:
//
//	wf.Child("orders.ship", in, "", keel.ChildOptions{
//		SearchAttributes: map[string]any{"customer": "acme"},
//		Memo:             map[string]any{"source": "batch"},
//	})
//
// The step's input is {"input": input, "workflowId"?, "searchAttributes"?, "memo"?}, each
// optional key sent only when set (not nil, or not "" for workflowID).
func (wf *WorkflowContext) Child(name string, input any, workflowID string, opts ...ChildOptions) *Future {
	params := map[string]any{"input": input}
	if workflowID != "" {
		params["workflowId"] = workflowID
	}
	if len(opts) > 0 {
		if opts[0].SearchAttributes != nil {
			params["searchAttributes"] = opts[0].SearchAttributes
		}
		if opts[0].Memo != nil {
			params["memo"] = opts[0].Memo
		}
	}
	return wf.run.step("child", name, params, nil)
}

// Sleep waits durably for d.
func (wf *WorkflowContext) Sleep(d time.Duration) error {
	return wf.run.step("sleep", "sleep", map[string]int64{"durationMs": d.Milliseconds()}, nil).Get(nil)
}

// Signal waits for signal name and decodes its payload into out (may be nil). timeout 0 waits
// without limit; past a timeout it returns a Failure for which IsTimedOut is true.
func (wf *WorkflowContext) Signal(name string, timeout time.Duration, out any) error {
	return wf.run.signalStep(name, timeout).Get(out)
}

// signalStep sends the wait for signal name (a "signal" step, input {} or {"timeoutMs": N}); an
// update's receive step (WaitForUpdate) is the same wait under the name "update:" + its name.
func (r *workflowRun) signalStep(name string, timeout time.Duration) *Future {
	input := map[string]int64{}
	if timeout > 0 {
		input["timeoutMs"] = timeout.Milliseconds()
	}
	return r.step("signal", name, input, nil)
}

// Now returns the time, recorded once, so replay sees the same value.
func (wf *WorkflowContext) Now() (time.Time, error) {
	var ms float64
	if err := wf.run.step("now", "now", struct{}{}, nil).Get(&ms); err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(ms)), nil
}

// Random returns a number in [0, 1), recorded once.
func (wf *WorkflowContext) Random() (float64, error) {
	var r float64
	err := wf.run.step("random", "random", struct{}{}, nil).Get(&r)
	return r, err
}

// UUID returns a UUID string, recorded once.
func (wf *WorkflowContext) UUID() (string, error) {
	var u string
	err := wf.run.step("uuid", "uuid", struct{}{}, nil).Get(&u)
	return u, err
}

// Patched reports whether this execution runs the code after patch id (docs/versioning.md):
//
//	if p, err := wf.Patched("add-discount"); err != nil {
//		return nil, err
//	} else if p {
//		// the new code
//	} else {
//		// the code the execution was recorded with
//	}
//
// Running live (the journal has no entry at the next seq) it records a patch marker, a step of
// kind "patch", and answers true. In replay it answers true, sending nothing, when the journal
// holds that marker at the next seq, and false when it holds any other step there: an execution
// recorded before the patch, whose next step then takes that seq. Later calls with the same id
// answer the same without a step. It fails when id is empty.
func (wf *WorkflowContext) Patched(id string) (bool, error) {
	if id == "" {
		return false, errors.New("keel: Patched needs a non-empty patch id")
	}
	answer := wf.run.patch(id)
	if answer.marker != nil {
		// Live: the marker is recorded once Keel answers (with true); its failure is the answer.
		if err := answer.marker.Get(nil); err != nil {
			return false, err
		}
		return true, nil
	}
	return answer.patched, nil
}

// patchAnswer is patched(id)'s answer: from the journal, or the marker step sent live.
type patchAnswer struct {
	patched bool
	marker  *Future
}

// DeprecatePatch is Patched(id) with the answer dropped, for when every execution recorded before
// patch id has finished and only the new code is left: live it still records the marker (so
// workers still running the Patched code replay the execution down the new path); in replay it
// uses up a marker with that id and leaves any other step for the code that follows.
func (wf *WorkflowContext) DeprecatePatch(id string) error {
	_, err := wf.Patched(id)
	return err
}

// Future is the outcome of a step started without waiting.
type Future struct {
	run     *workflowRun
	seq     int
	done    chan struct{}
	reason  unwindReason // non-running: the step makes the run unwind
	failure *Failure
	err     error
	result  json.RawMessage
}

// Seq is the step's number in the journal.
func (f *Future) Seq() int { return f.seq }

// Get waits for the step and decodes its result into out (may be nil). It returns a *Failure
// when the step failed (IsCancelled tells a cancel request), or an *Error when Keel refused the
// step. When the step cannot complete soon, the workflow goroutine is unwound (its deferred
// calls run) and the run answers "suspended"; Keel re-runs it later.
func (f *Future) Get(out any) error {
	select {
	case <-f.done:
	case <-f.run.unwound:
		runtime.Goexit()
	}
	if f.reason != running {
		f.run.unwind(f.reason, f.failure)
		runtime.Goexit()
	}
	if f.failure != nil {
		return f.failure
	}
	if f.err != nil {
		return f.err
	}
	if out != nil && len(f.result) > 0 {
		if err := json.Unmarshal(f.result, out); err != nil {
			return fmt.Errorf("keel: step %d: cannot decode the result into %T: %w", f.seq, out, err)
		}
	}
	return nil
}

type stepParams struct {
	WorkflowID string          `json:"workflowId"`
	RunID      json.RawMessage `json:"runId"`
	Seq        int             `json:"seq"`
	Kind       string          `json:"kind"`
	Name       string          `json:"name"`
	Input      any             `json:"input"`
	Options    *StepOptions    `json:"options,omitempty"`
}

// step assigns the next seq and answers it from the journal, or sends it to Keel.
func (r *workflowRun) step(kind, name string, input any, options *StepOptions) *Future {
	r.mu.Lock()
	if r.reason != running {
		r.mu.Unlock()
		runtime.Goexit() // unwinding: a deferred step must not start new durable work
	}
	r.seq++
	f := &Future{run: r, seq: r.seq, done: make(chan struct{})}
	entry, recorded := r.journal[f.seq]
	r.mu.Unlock()
	return r.replayOrSend(f, entry, recorded, kind, name, input, options)
}

// patch answers patched(id): memoized per run; else from the journal entry at the next seq (a
// marker named id is used up and answers true; any other entry answers false and keeps its
// seq); else a new "patch" step, which Keel answers true.
func (r *workflowRun) patch(id string) patchAnswer {
	r.mu.Lock()
	if r.reason != running {
		r.mu.Unlock()
		runtime.Goexit() // unwinding: a deferred step must not start new durable work
	}
	if answer, ok := r.patches[id]; ok {
		r.mu.Unlock()
		return answer
	}
	if r.patches == nil {
		r.patches = map[string]patchAnswer{}
	}
	next := r.seq + 1
	var answer patchAnswer
	if entry, recorded := r.journal[next]; recorded {
		if answer.patched = entry.Kind == "patch" && entry.Name == id; answer.patched {
			r.seq = next
		}
		r.patches[id] = answer
		r.mu.Unlock()
		return answer
	}
	r.seq = next
	answer.marker = &Future{run: r, seq: next, done: make(chan struct{})}
	r.patches[id] = answer
	r.mu.Unlock()
	r.replayOrSend(answer.marker, journalEntry{}, false, "patch", id, struct{}{}, nil)
	return answer
}

// replayOrSend answers f from its journal entry (recorded), checking it is the same step, or
// sends the step to Keel.
func (r *workflowRun) replayOrSend(f *Future, entry journalEntry, recorded bool, kind, name string, input any, options *StepOptions) *Future {
	if recorded && (entry.Kind != kind || entry.Name != name) {
		// "Client libraries check the journal themselves during replay and report a mismatch as
		// a failed run with failure.type = NonDeterminism."
		r.unwind(nondeterminism, &Failure{Type: "NonDeterminism", NonRetryable: true,
			Message: fmt.Sprintf("step %d is %s %q in the journal but %s %q in the code", f.seq, entry.Kind, entry.Name, kind, name),
			Details: map[string]any{"seq": f.seq, "journal": map[string]string{"kind": entry.Kind, "name": entry.Name},
				"code": map[string]string{"kind": kind, "name": name}}})
		runtime.Goexit()
	}
	if recorded && (entry.Status == "completed" || entry.Failure != nil) {
		f.result, f.failure = entry.Result, entry.Failure
		close(f.done)
		return f
	}
	params := stepParams{WorkflowID: r.params.WorkflowID, RunID: r.params.RunID, Seq: f.seq, Kind: kind,
		Name: name, Input: input, Options: options}
	if len(params.RunID) == 0 {
		params.RunID = json.RawMessage("null")
	}
	call, err := r.conn.goCall("workflow/step", params)
	if err != nil {
		f.settle(nil, err)
		return f
	}
	go func() { f.settle(call.wait(r.conn.ctx, r.conn)) }()
	return f
}

// settle records the answer to workflow/step.
func (f *Future) settle(raw json.RawMessage, err error) {
	defer close(f.done)
	var rpc *Error
	switch {
	case errors.As(err, &rpc) && rpc.Code == CodeNonDeterminism:
		f.reason = nondeterminism
		f.failure = &Failure{Type: "NonDeterminism", Message: rpc.Message, NonRetryable: true, Details: rpc.Data}
	case errors.As(err, &rpc) && rpc.Code == CodeAttemptSuperseded:
		f.reason = aborted // "the execution moved to another worker"
	case errors.As(err, &rpc):
		f.err = rpc
	case err != nil:
		f.reason = aborted
	default:
		var answer struct {
			Status  string          `json:"status"`
			Result  json.RawMessage `json:"result"`
			Failure *Failure        `json:"failure"`
		}
		if jerr := json.Unmarshal(raw, &answer); jerr != nil {
			f.err = fmt.Errorf("keel: malformed workflow/step answer: %s", raw)
			return
		}
		switch answer.Status {
		case "completed":
			f.result = answer.Result
		case "failed":
			f.failure = answer.Failure
			if f.failure == nil {
				f.failure = &Failure{Type: "Error", Message: "step failed without a failure object"}
			}
		case "suspend", "suspended":
			f.reason = suspended
		default:
			f.err = fmt.Errorf("keel: unknown workflow/step status %q", answer.Status)
		}
	}
}

// Running workflows

func (w *Worker) acceptWorkflowRun(conn *Conn) acceptFunc {
	return func(raw json.RawMessage) (func(context.Context) (any, error), error) {
		var p workflowRunParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, newError(CodeInvalidParams, "Invalid params: "+err.Error(), nil)
		}
		if !w.begin() {
			return nil, errShuttingDown
		}
		return func(ctx context.Context) (any, error) {
			defer w.end()
			select {
			case w.workflowSlots <- struct{}{}:
				defer func() { <-w.workflowSlots }()
			case <-ctx.Done():
				return nil, ErrClosed
			}
			return w.runWorkflow(conn, p)
		}, nil
	}
}

// runWorkflow runs the function from the start against the journal and returns the run's answer.
func (w *Worker) runWorkflow(conn *Conn, p workflowRunParams) (any, error) {
	var def *workflowDef
	for i := range w.workflows {
		if w.workflows[i].wire.Name == p.Name {
			def = &w.workflows[i]
		}
	}
	if def == nil {
		return failedRun(&Failure{Type: "WorkflowNotRegistered", Message: fmt.Sprintf("this worker does not serve workflow %q", p.Name)}), nil
	}
	r := &workflowRun{conn: conn, params: p, journal: map[int]journalEntry{}, unwound: make(chan struct{})}
	for _, e := range p.Journal {
		r.journal[e.Seq] = e
	}
	key := runKey(p.WorkflowID, p.RunID)
	w.mu.Lock()
	w.runs[key] = r
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.runs[key] == r {
			delete(w.runs, key)
		}
		w.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				r.finish(nil, &Failure{Type: "Panic", Message: fmt.Sprint(v)})
			}
		}()
		r.finish(def.run(&WorkflowContext{run: r}, p.Input))
	}()
	select {
	case <-done:
	case <-r.unwound:
		select {
		case <-done:
		case <-time.After(unwindGrace):
			w.logger.Printf("workflow %s (%s) did not unwind within %s; its goroutine is left behind", p.WorkflowID, p.Name, unwindGrace)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered = true
	switch {
	case r.reason == nondeterminism:
		w.logger.Printf("workflow %s: %s", p.WorkflowID, r.failure.Message)
		return failedRun(r.failure), nil
	case r.finished:
		return w.finishedRun(p, r.output, r.err), nil
	default: // suspended, or aborted: then Keel has moved on and nobody reads the answer
		return map[string]string{"status": "suspended"}, nil
	}
}

func (w *Worker) finishedRun(p workflowRunParams, output any, err error) any {
	var next *ContinueAsNewError
	if errors.As(err, &next) {
		return map[string]any{"status": "continueAsNew", "input": next.Input}
	}
	if err != nil {
		if !IsCancelled(err) {
			w.logger.Printf("workflow %s (%s) failed: %v", p.WorkflowID, p.Name, err)
		}
		return failedRun(failureFrom(err))
	}
	encoded, jerr := json.Marshal(output)
	if jerr != nil {
		return failedRun(&Failure{Type: "OutputNotSerializable", Message: jerr.Error(), NonRetryable: true})
	}
	return map[string]any{"status": "completed", "output": json.RawMessage(encoded)}
}

func failedRun(f *Failure) map[string]any { return map[string]any{"status": "failed", "failure": f} }
