package keel

import (
	"errors"
	"fmt"
	"math/rand"
	"time"
)

// Reconnect defaults (docs/clients.md "Reconnecting").
const (
	// DefaultReconnectInitial bounds the first wait: a restarted keel serve binds in well under 1 s.
	DefaultReconnectInitial = 100 * time.Millisecond
	// DefaultReconnectMax caps one wait: a worker is back at most ~2 s after Keel is (a 10 s cap
	// kept it away for 5-10 s).
	DefaultReconnectMax = 2 * time.Second
	// DefaultReconnectTimeout is how long one client call keeps reconnecting before it fails.
	DefaultReconnectTimeout = 30 * time.Second
)

// backoff is full-jitter exponential backoff: wait uniform(0, min(max, initial × 2^n)), n being
// the failed attempts since the last reset (after a successful initialize). Not safe for
// concurrent use: one per connection loop, or guarded by its owner's lock.
type backoff struct {
	initial, max time.Duration
	failures     int
}

func newBackoff(initial, max time.Duration) *backoff {
	if initial <= 0 {
		initial = DefaultReconnectInitial
	}
	if max <= 0 {
		max = DefaultReconnectMax
	}
	if max < initial {
		max = initial
	}
	return &backoff{initial: initial, max: max}
}

func (b *backoff) reset() { b.failures = 0 }

// next returns the next wait and counts one more failed attempt.
func (b *backoff) next() time.Duration {
	bound := b.max
	if b.failures < 30 && b.initial<<b.failures < b.max {
		bound = b.initial << b.failures
	}
	b.failures++
	return time.Duration(rand.Int63n(int64(bound) + 1))
}

// endpointRing is several endpoints tried in order (docs/clients.md "Several endpoints"). current
// is where to connect next; after a failed attempt or a dropped connection, failed moves to the
// next one (wrapping around) and reports whether every endpoint has failed once since the last
// success or pause: only then does the caller wait its backoff. With one endpoint every failure
// waits, as before. Not safe for concurrent use, like backoff.
type endpointRing struct {
	endpoints       []Endpoint
	index, failures int
}

func newEndpointRing(endpoints []Endpoint) *endpointRing {
	return &endpointRing{endpoints: endpoints}
}

func (r *endpointRing) current() Endpoint { return r.endpoints[r.index] }

// succeeded marks the current endpoint initialized: a later failure starts a new round from it.
func (r *endpointRing) succeeded() { r.failures = 0 }

// failed moves to the next endpoint; true when a whole round failed (then wait the backoff).
func (r *endpointRing) failed() bool {
	r.index = (r.index + 1) % len(r.endpoints)
	r.failures++
	if r.failures < len(r.endpoints) {
		return false
	}
	r.failures = 0
	return true
}

// ErrOutcomeUnknown reports that the connection to Keel dropped while a call was in flight and
// the call was not safe to repeat (not a read, no idempotency key, request id or update id): it may or may
// not have taken effect. Match it with errors.Is; such an error also matches ErrClosed. Local only.
var ErrOutcomeUnknown = errors.New("keel: connection lost; outcome unknown")

// outcomeUnknownError names the call whose outcome is unknown.
type outcomeUnknownError struct{ method string }

func (e *outcomeUnknownError) Error() string {
	return fmt.Sprintf("keel: connection lost during %s; outcome unknown", e.method)
}

func (e *outcomeUnknownError) Is(target error) bool {
	return target == ErrOutcomeUnknown || target == ErrClosed
}

// reads are the calls repeating changes nothing in Keel.
var reads = map[string]bool{"ping": true, "activity/result": true, "workflow/result": true,
	"workflow/describe": true, "workflow/history": true, "workflow/list": true, "worker/list": true,
	"workflow/follow": true, "workflow/query": true, "schedule/describe": true, "schedule/list": true}

// safeToRepeat reports whether a call whose connection dropped before its answer may be sent
// again: a read, an activity/call with an idempotency key, a workflow/start with a workflow id
// that does not ask to fail on conflict (its signal, if any, always has a request id: see
// SignalWithStart), a workflow/signal with a request id (Keel answers a repeat duplicate and
// delivers nothing), or a workflow/update with an update id (a repeat waits for the same update)
// (docs/clients.md "Reconnecting").
func safeToRepeat(method string, params any) bool {
	switch {
	case reads[method]:
		return true
	case method == "activity/call":
		return paramString(params, "idempotencyKey") != ""
	case method == "workflow/start":
		return paramString(params, "workflowId") != "" && paramString(params, "conflictPolicy") != "fail"
	case method == "workflow/signal":
		return paramString(params, "requestId") != ""
	case method == "workflow/update":
		return paramString(params, "updateId") != ""
	}
	return false
}

func paramString(params any, key string) string {
	switch p := params.(type) {
	case map[string]any:
		s, _ := p[key].(string)
		return s
	case map[string]string:
		return p[key]
	}
	return ""
}
