package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is this client's version, sent in initialize's clientInfo.
const Version = "0.1.0"

// ProtocolVersion is the protocol version this client speaks.
const ProtocolVersion = "1"

const (
	// handshakeTimeout bounds the initialize and worker/register round trips.
	handshakeTimeout = 10 * time.Second
	// defaultDrainTimeout bounds a graceful stop before running work is cancelled.
	defaultDrainTimeout = 30 * time.Second
	// outputEnvelopeBytes is room left for the JSON-RPC envelope around an output.
	outputEnvelopeBytes = 1024
)

// "`name` matches ^[A-Za-z_][A-Za-z0-9_.\-]*$" (docs/protocol.md, worker/register).
var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*$`)

// WorkerOptions configure a Worker. The zero value is usable.
type WorkerOptions struct {
	// MaxConcurrent bounds the activity/execute requests run at once (default 16, max 10000).
	MaxConcurrent int
	// MaxConcurrentWorkflows bounds workflow/run requests run at once (default 1000).
	MaxConcurrentWorkflows int
	// Socket, TCP and Token choose the transport (see ResolveEndpoint); stdio when
	// KEEL_TRANSPORT=stdio.
	Socket, TCP, Token string
	// Sockets and TCPAddresses list several endpoints, tried in order after Socket or TCP: when
	// the connected node dies the worker moves to the next one and registers again
	// (docs/clients.md "Several endpoints"). KEEL_SOCKET/KEEL_TCP may be comma-separated lists.
	Sockets, TCPAddresses []string
	// TLS makes a TCP connection speak TLS (nil: KEEL_TLS*, else clear text).
	TLS *TLSOptions
	// MaxFrameBytes limits incoming messages (default 16 MiB).
	MaxFrameBytes int
	// DrainTimeout bounds a graceful stop before running work is cancelled (default 30 s).
	DrainTimeout time.Duration
	// NoReconnect makes Run return when a socket or TCP connection drops.
	NoReconnect bool
	// ReconnectInitial and ReconnectMax shape the full-jitter reconnect backoff (defaults 100 ms
	// and 2 s; docs/clients.md "Reconnecting").
	ReconnectInitial, ReconnectMax time.Duration
	// NoSignalHandling stops Run from draining on SIGTERM/SIGINT.
	NoSignalHandling bool
	// Logger receives the worker's logs (default: stderr).
	Logger *log.Logger
	// BuildID names the build of the code this worker runs (default: $KEEL_BUILD_ID; empty =
	// unversioned). An execution is pinned to the build of the worker that first runs it and
	// afterwards runs only on workers of that build or workers listing it in CompatibleBuildIDs
	// (docs/versioning.md).
	BuildID string
	// CompatibleBuildIDs lists older builds whose executions this worker can continue (its code
	// replays theirs, e.g. through WorkflowContext.Patched). Sent only with a BuildID.
	CompatibleBuildIDs []string
}

// Worker serves activities and workflows to Keel. Register them, then call Run.
type Worker struct {
	name      string
	opts      WorkerOptions
	logger    *log.Logger
	contracts map[string]*Contract

	activities []activityDef
	workflows  []workflowDef

	slots         chan struct{} // activity concurrency
	workflowSlots chan struct{}

	mu       sync.Mutex
	workerID string
	draining bool
	inFlight int
	idle     chan struct{} // closed while nothing runs
	running  map[activityRunKey]*activityRun
	runs     map[string]*workflowRun // live workflow runs by workflowId and runId, for workflow/cancel
	stop     chan struct{}
	stopOnce sync.Once
}

type activityRunKey struct {
	taskID  string
	attempt int
}

// NewWorker returns a worker named name (default: the program name).
func NewWorker(name string, opts WorkerOptions) *Worker {
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(os.Args[0]), filepath.Ext(os.Args[0]))
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.MaxConcurrent > 10000 {
		panic("keel: MaxConcurrent must be at most 10000")
	}
	if opts.MaxConcurrentWorkflows <= 0 {
		opts.MaxConcurrentWorkflows = 1000
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = defaultDrainTimeout
	}
	if opts.BuildID == "" {
		opts.BuildID = os.Getenv("KEEL_BUILD_ID")
	}
	logger := opts.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "keel: ", log.LstdFlags)
	}
	if opts.BuildID == "" && len(opts.CompatibleBuildIDs) > 0 {
		logger.Printf("CompatibleBuildIDs without a BuildID (option or KEEL_BUILD_ID) are not sent")
	}
	idle := make(chan struct{})
	close(idle)
	return &Worker{
		name: name, opts: opts, logger: logger, contracts: map[string]*Contract{},
		slots: make(chan struct{}, opts.MaxConcurrent), workflowSlots: make(chan struct{}, opts.MaxConcurrentWorkflows),
		idle: idle, running: map[activityRunKey]*activityRun{}, runs: map[string]*workflowRun{}, stop: make(chan struct{}),
	}
}

// WorkerID is the id Keel gave this worker at its last registration ("" before).
func (w *Worker) WorkerID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.workerID
}

func (w *Worker) checkName(kind, name string) {
	if !namePattern.MatchString(name) {
		panic(fmt.Sprintf("keel: %s name %q must match %s", kind, name, namePattern))
	}
	for _, a := range w.activities {
		if a.wire.Name == name && kind == "activity" {
			panic(fmt.Sprintf("keel: activity %q is already registered", name))
		}
	}
	for _, wf := range w.workflows {
		if wf.wire.Name == name && kind == "workflow" {
			panic(fmt.Sprintf("keel: workflow %q is already registered", name))
		}
	}
}

func (w *Worker) addActivity(d activityDef) {
	w.checkName("activity", d.wire.Name)
	w.activities = append(w.activities, d)
}

type registration struct {
	Name                   string         `json:"name"`
	Language               string         `json:"language"`
	MaxConcurrent          int            `json:"maxConcurrent"`
	Activities             []activityWire `json:"activities"`
	Workflows              []workflowWire `json:"workflows"`
	MaxConcurrentWorkflows int            `json:"maxConcurrentWorkflows,omitempty"`
	BuildID                string         `json:"buildId,omitempty"`
	CompatibleBuildIDs     []string       `json:"compatibleBuildIds,omitempty"`
}

// registration returns the worker/register params.
func (w *Worker) registration() registration {
	r := registration{Name: w.name, Language: "go", MaxConcurrent: w.opts.MaxConcurrent,
		Activities: []activityWire{}, Workflows: []workflowWire{}}
	for _, a := range w.activities {
		r.Activities = append(r.Activities, a.wire)
	}
	for _, wf := range w.workflows {
		r.Workflows = append(r.Workflows, wf.wire)
	}
	if len(r.Workflows) > 0 {
		r.MaxConcurrentWorkflows = w.opts.MaxConcurrentWorkflows
	}
	if w.opts.BuildID != "" {
		r.BuildID, r.CompatibleBuildIDs = w.opts.BuildID, w.opts.CompatibleBuildIDs
	}
	return r
}

// Run connects, initializes, registers and serves until stopped: ctx is done, SIGTERM or
// SIGINT (a second signal cancels running work), a shutdown request, or, over stdio, the end of
// stdin. A graceful stop refuses new work, lets running work finish (up to DrainTimeout), sends
// the results and disconnects. Socket and TCP connections that drop are re-opened with
// full-jitter exponential backoff (reset after each successful initialize), initializing and
// registering again each time; with several endpoints a failure moves to the next one at once,
// and the backoff is waited once every endpoint failed in a row. Activities running when a
// connection drops are cancelled ("its in-flight activities are retried elsewhere").
//
// Run returns nil after a graceful stop, or an *Error when Keel refused the worker for good
// (unauthorized, unsupported protocol version, contract conflict). Call it once.
func (w *Worker) Run(ctx context.Context) error {
	endpoints, err := ResolveEndpoints(endpointList(w.opts.Socket, w.opts.Sockets),
		endpointList(w.opts.TCP, w.opts.TCPAddresses), w.opts.Token, true)
	if err != nil {
		return err
	}
	ring := newEndpointRing(withTLSAll(endpoints, w.opts.TLS))
	runDone := make(chan struct{})
	defer close(runDone)
	if !w.opts.NoSignalHandling {
		signals := make(chan os.Signal, 2)
		signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
		defer signal.Stop(signals)
		go w.onSignals(signals, runDone)
	}
	go func() {
		select {
		case <-ctx.Done():
			w.requestStop()
		case <-runDone:
		}
	}()
	backoff := newBackoff(w.opts.ReconnectInitial, w.opts.ReconnectMax)
	for {
		endpoint := ring.current()
		err := w.session(ctx, endpoint, backoff, ring)
		var rpc *Error
		if errors.As(err, &rpc) && (rpc.Code == CodeUnauthorized || rpc.Code == CodeUnsupportedProtocolVersion ||
			rpc.Code == CodeContractConflict) {
			return err
		} else if err != nil {
			w.logger.Printf("connection to Keel at %s failed: %v", endpoint, err)
		}
		if endpoint.Stdio || w.opts.NoReconnect || w.stopping() {
			return nil
		}
		if !ring.failed() {
			w.logger.Printf("failing over from Keel at %s to %s", endpoint, ring.current())
			continue
		}
		pause := backoff.next()
		w.logger.Printf("reconnecting to Keel in %s", pause.Round(time.Millisecond))
		select {
		case <-w.stop:
			return nil
		case <-time.After(pause):
		}
	}
}

func (w *Worker) onSignals(signals chan os.Signal, runDone chan struct{}) {
	for count := 1; ; count++ {
		select {
		case s := <-signals:
			if count == 1 {
				w.logger.Printf("%v: draining (send again to cancel running work)", s)
				w.requestStop()
			} else {
				w.cancelAll("worker killed")
			}
		case <-runDone:
			return
		}
	}
}

func (w *Worker) requestStop() {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.draining = true
		w.mu.Unlock()
		close(w.stop)
	})
}

func (w *Worker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// session runs one connection; it resets backoff and ring's round once initialize succeeded.
func (w *Worker) session(ctx context.Context, endpoint Endpoint, backoff *backoff, ring *endpointRing) error {
	dialCtx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	r, wr, closer, err := dial(dialCtx, endpoint)
	if err != nil {
		return err
	}
	conn := NewConn(r, wr, closer, ConnOptions{MaxFrameBytes: w.opts.MaxFrameBytes, Logger: w.logger})
	conn.handleAccept("activity/execute", w.acceptExecute(conn))
	conn.handleAccept("workflow/run", w.acceptWorkflowRun(conn))
	conn.HandleNotification("activity/cancel", w.onCancel)
	conn.HandleNotification("workflow/cancel", w.onWorkflowCancel)
	conn.Handle("ping", func(context.Context, json.RawMessage) (any, error) { return struct{}{}, nil })
	conn.handleAccept("shutdown", w.acceptShutdown(conn))
	conn.Start()
	defer conn.Close()

	if err := handshake(dialCtx, conn, endpoint); err != nil {
		return err
	}
	backoff.reset() // Keel is back: a drop from here on starts the backoff over
	ring.succeeded()
	var result struct {
		WorkerID string `json:"workerId"`
	}
	if err := conn.Call(dialCtx, "worker/register", w.registration(), &result); err != nil {
		return err
	}
	w.mu.Lock()
	w.workerID = result.WorkerID
	w.mu.Unlock()
	w.logger.Printf("registered with Keel at %s as %s (%d activities, %d workflows)",
		endpoint, result.WorkerID, len(w.activities), len(w.workflows))
	select {
	case <-conn.Done():
		w.logger.Printf("connection to Keel at %s closed", endpoint)
	case <-w.stop:
		w.drain()
	}
	return nil
}

// handshake sends initialize and checks the answer.
func handshake(ctx context.Context, conn *Conn, endpoint Endpoint) error {
	params := map[string]any{
		"protocolVersion": ProtocolVersion,
		"clientInfo":      map[string]string{"name": "keel-go", "version": Version},
	}
	if endpoint.Token != "" {
		params["token"] = endpoint.Token
	}
	var result struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    struct {
			MaxMessageBytes int `json:"maxMessageBytes"`
		} `json:"capabilities"`
	}
	if err := conn.Call(ctx, "initialize", params, &result); err != nil {
		return err
	}
	if result.ProtocolVersion != ProtocolVersion {
		return newError(CodeUnsupportedProtocolVersion,
			fmt.Sprintf("Keel answered initialize with protocol version %q; this client speaks %q", result.ProtocolVersion, ProtocolVersion), nil)
	}
	if result.Capabilities.MaxMessageBytes > 0 {
		conn.SetPeerMaxFrameBytes(result.Capabilities.MaxMessageBytes)
	}
	return nil
}

// Work tracking and draining

// begin admits one unit of work; false while draining.
func (w *Worker) begin() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining {
		return false
	}
	if w.inFlight == 0 {
		w.idle = make(chan struct{})
	}
	w.inFlight++
	return true
}

func (w *Worker) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inFlight--; w.inFlight == 0 {
		close(w.idle)
	}
}

// drain stops admitting work and waits for running work, up to DrainTimeout; then it cancels it.
func (w *Worker) drain() {
	w.mu.Lock()
	w.draining = true
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(w.opts.DrainTimeout):
		w.logger.Printf("drain timed out after %s; cancelling running activities", w.opts.DrainTimeout)
		w.cancelAll("worker shutting down")
	}
}

func (w *Worker) cancelAll(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.running {
		a.cancelWith(reason)
	}
}

var errShuttingDown = newError(CodeShuttingDown, "worker is shutting down; dispatch the work elsewhere", nil)

// acceptShutdown: "Keel sends shutdown to a spawned worker before closing its stdin." Running
// work finishes and its results are sent before the answer; then the worker stops.
func (w *Worker) acceptShutdown(conn *Conn) acceptFunc {
	return func(json.RawMessage) (func(context.Context) (any, error), error) {
		w.mu.Lock()
		w.draining = true
		w.mu.Unlock()
		return func(context.Context) (any, error) {
			w.drain()
			// Results of the drained work go out before this answer.
			conn.waitOtherAnswers(5 * time.Second)
			w.requestStop() // the session then closes the connection, which waits for this answer
			return struct{}{}, nil
		}, nil
	}
}

// onWorkflowCancel: Keel ended the execution (terminated, timed out). The matching run unwinds
// as if superseded; its answer is ignored and its goroutine is left behind if it never reaches
// another step (unwindGrace).
func (w *Worker) onWorkflowCancel(params json.RawMessage) {
	var p struct {
		WorkflowID string          `json:"workflowId"`
		RunID      json.RawMessage `json:"runId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	w.mu.Lock()
	r := w.runs[runKey(p.WorkflowID, p.RunID)]
	w.mu.Unlock()
	if r != nil {
		r.unwind(aborted, nil)
	}
}

func runKey(workflowID string, runID json.RawMessage) string {
	return workflowID + "/" + strings.TrimSpace(string(runID))
}

func (w *Worker) onCancel(params json.RawMessage) {
	var p struct {
		TaskID  string `json:"taskId"`
		Attempt *int   `json:"attempt"`
		Reason  string `json:"reason"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	if p.Reason == "" {
		p.Reason = "cancelled"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, a := range w.running {
		if key.taskID == p.TaskID && (p.Attempt == nil || *p.Attempt == key.attempt) {
			a.cancelWith(p.Reason)
		}
	}
}
