package keel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"
)

const (
	// closeGrace bounds how long Close waits for running request handlers to write their answers
	// (their contexts are already cancelled, so this is only the time to notice and answer).
	closeGrace = 2 * time.Second
	// flushGrace bounds how long Close waits for queued bytes to reach the transport.
	flushGrace = 2 * time.Second
)

// Handler serves one request method. It runs in its own goroutine; ctx is cancelled when the
// connection closes. The result is JSON-encoded; an *Error becomes the error response, any
// other error (or a panic) becomes -32603 with data {"incident": id}, logged in full.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// NotificationHandler handles one notification method. It runs on the reading goroutine, so it
// must not block.
type NotificationHandler func(params json.RawMessage)

// acceptFunc runs on the reading goroutine, in arrival order, and returns the work to run
// concurrently (or an error to answer at once). The worker uses it so that "shutdown" refuses
// every execute that arrives after it, whatever the goroutine scheduling.
type acceptFunc func(params json.RawMessage) (func(ctx context.Context) (any, error), error)

// ConnOptions configure a Conn. The zero value is usable.
type ConnOptions struct {
	// MaxFrameBytes limits incoming lines (DefaultMaxFrameBytes when 0).
	MaxFrameBytes int
	// Logger receives diagnostics; defaults to a logger on stderr (never stdout: over stdio,
	// stdout is the wire).
	Logger *log.Logger
}

// Conn is one JSON-RPC 2.0 peer over a line-framed byte stream: calls and notifications out,
// requests and notifications in. Register handlers before Start. All methods are safe for
// concurrent use; writes from all goroutines are coalesced.
type Conn struct {
	in     *FrameReader
	out    *frameWriter
	closer io.Closer
	logger *log.Logger

	handlers      map[string]acceptFunc
	notifications map[string]NotificationHandler

	ctx       context.Context // cancelled when the connection closes; parent of handler contexts
	cancel    context.CancelFunc
	running   sync.WaitGroup // request handler goroutines
	unwritten int64          // answers computed later and not yet written (atomic)
	done      chan struct{}
	closeOnce sync.Once
	endOnce   sync.Once

	mu       sync.Mutex
	nextID   int64
	pending  map[int64]*pendingCall
	endErr   error
	peerMax  int
	started  bool
	stopRead bool
}

type pendingCall struct {
	done   chan struct{}
	result json.RawMessage
	err    error
}

// NewConn returns a connection reading r and writing w; Close closes closer (may be nil).
func NewConn(r io.Reader, w io.Writer, closer io.Closer, opts ConnOptions) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	logger := opts.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "keel: ", log.LstdFlags)
	}
	return &Conn{
		in: NewFrameReader(r, opts.MaxFrameBytes), out: newFrameWriter(w), closer: closer, logger: logger,
		handlers: map[string]acceptFunc{}, notifications: map[string]NotificationHandler{},
		ctx: ctx, cancel: cancel, done: make(chan struct{}), pending: map[int64]*pendingCall{},
	}
}

// Handle serves method with h. Call before Start.
func (c *Conn) Handle(method string, h Handler) {
	c.handlers[method] = func(params json.RawMessage) (func(ctx context.Context) (any, error), error) {
		return func(ctx context.Context) (any, error) { return h(ctx, params) }, nil
	}
}

func (c *Conn) handleAccept(method string, a acceptFunc) { c.handlers[method] = a }

// HandleNotification handles notification method with h. Call before Start.
func (c *Conn) HandleNotification(method string, h NotificationHandler) { c.notifications[method] = h }

// Start starts the reading goroutine. Call once.
func (c *Conn) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		panic("keel: Conn.Start called twice")
	}
	c.started = true
	go c.readLoop()
}

// Done is closed when the connection ends (peer closed it, a read failed, or Close).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

// SetPeerMaxFrameBytes records the peer's frame limit (initialize's capabilities.maxMessageBytes):
// Call then refuses larger requests locally with ErrFrameTooLarge.
func (c *Conn) SetPeerMaxFrameBytes(n int) {
	c.mu.Lock()
	c.peerMax = n
	c.mu.Unlock()
}

// Call sends a request and decodes its result into result (which may be nil).
// It returns an *Error when the peer answered with one, ErrClosed when the connection ended
// first, or ctx.Err(); a late answer after ctx is done is dropped.
func (c *Conn) Call(ctx context.Context, method string, params, result any) error {
	call, err := c.goCall(method, params)
	if err != nil {
		return err
	}
	raw, err := call.wait(ctx, c)
	if err != nil || result == nil {
		return err
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("keel: %s: cannot decode the result: %w", method, err)
	}
	return nil
}

// goCall writes the request now, so requests leave in the order goCall is called, and returns
// the pending call to wait on.
func (c *Conn) goCall(method string, params any) (*pendingCall, error) {
	c.mu.Lock()
	if c.endErr != nil {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.nextID++
	id := c.nextID
	call := &pendingCall{done: make(chan struct{})}
	c.pending[id] = call
	c.mu.Unlock()
	if params == nil {
		params = struct{}{} // "Params are always one object"
	}
	err := c.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		c.forget(id)
		return nil, err
	}
	return call, nil
}

func (p *pendingCall) wait(ctx context.Context, c *Conn) (json.RawMessage, error) {
	select {
	case <-p.done:
		return p.result, p.err
	case <-ctx.Done():
		c.mu.Lock()
		for id, other := range c.pending {
			if other == p {
				delete(c.pending, id)
			}
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (c *Conn) forget(id int64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Notify sends a notification (no answer). It returns ErrClosed when the connection ended.
func (c *Conn) Notify(method string, params any) error {
	if params == nil {
		params = struct{}{}
	}
	return c.send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

func (c *Conn) send(message any) error {
	frame, err := EncodeFrame(message)
	if err != nil {
		return fmt.Errorf("keel: cannot encode a message: %w", err)
	}
	c.mu.Lock()
	limit := c.peerMax
	c.mu.Unlock()
	if limit > 0 && len(frame)-1 > limit {
		return fmt.Errorf("%w: %d bytes, the peer's limit is %d", ErrFrameTooLarge, len(frame)-1, limit)
	}
	return c.out.write(frame)
}

// Close ends the connection: pending calls fail with ErrClosed, handler contexts are cancelled,
// running handlers get up to closeGrace to write their answers, queued bytes are flushed (up to
// flushGrace) and the transport is closed. Safe to call more than once.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.end(ErrClosed)
		waited := make(chan struct{})
		go func() { c.running.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(closeGrace):
			c.logger.Printf("closing with request handlers still running after %s", closeGrace)
		}
		c.out.close(flushGrace)
		if c.closer != nil {
			err = c.closer.Close()
		}
	})
	return err
}

func (c *Conn) end(reason error) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.endErr = reason
		c.stopRead = true
		pending := c.pending
		c.pending = map[int64]*pendingCall{}
		c.mu.Unlock()
		for _, p := range pending {
			p.err = ErrClosed
			close(p.done)
		}
		c.cancel()
		close(c.done)
	})
}

// Reading

func (c *Conn) readLoop() {
	for {
		line, err := c.in.Read()
		if errors.Is(err, ErrFrameTooLarge) {
			c.writeReply(errorReply(nil, CodeMessageTooLarge, err.Error(), nil))
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = ErrClosed
			}
			c.end(err)
			return
		}
		c.mu.Lock()
		stop := c.stopRead
		c.mu.Unlock()
		if stop {
			return
		}
		c.handleLine(line)
	}
}
