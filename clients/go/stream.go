package keel

// Line framing, kept apart from the connection as sourcegraph/jsonrpc2 keeps stream.go apart
// from conn.go. docs/protocol.md, Framing: "One message per line: UTF-8 JSON without raw
// newlines, terminated by `\n` (`\r\n` is accepted). A line longer than the frame limit (default
// 16 MiB) is discarded up to its newline and answered with error -32002 messageTooLarge,
// id: null. The connection stays open."

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultMaxFrameBytes is the default frame limit, 16 MiB, newline excluded.
const DefaultMaxFrameBytes = 16 << 20

const (
	// readBufferBytes is the reader's buffer; lines longer than this are assembled from pieces.
	readBufferBytes = 64 << 10
	// writeHighWaterBytes bounds the bytes queued for the peer; past it Write waits for the
	// flusher, so a slow reader slows us down instead of growing memory without limit.
	writeHighWaterBytes = 4 << 20
)

// ErrFrameTooLarge reports a line over the frame limit. From FrameReader.Read the line was
// discarded and the stream is still usable: call Read again.
var ErrFrameTooLarge = errors.New("keel: message exceeds the frame limit")

// FrameReader splits a byte stream into lines of at most a maximum size.
// It is not safe for concurrent use: one goroutine owns it.
type FrameReader struct {
	r          *bufio.Reader
	max        int
	partial    []byte
	discarding bool
	eof        bool
}

// NewFrameReader returns a reader of frames up to maxBytes (DefaultMaxFrameBytes when <= 0).
func NewFrameReader(r io.Reader, maxBytes int) *FrameReader {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFrameBytes
	}
	return &FrameReader{r: bufio.NewReaderSize(r, readBufferBytes), max: maxBytes}
}

// Read returns the next non-empty line without its terminator. The slice is the caller's.
//
// It returns ErrFrameTooLarge (wrapped) for a line over the limit, once per such line, and
// io.EOF at the end of the stream; a final line without a newline is returned first.
func (f *FrameReader) Read() ([]byte, error) {
	for {
		if f.eof {
			return nil, io.EOF
		}
		chunk, err := f.r.ReadSlice('\n')
		switch {
		case err == nil:
			if f.discarding { // the oversize line was reported when it crossed the limit
				f.discarding = false
				continue
			}
			line := f.take(chunk[:len(chunk)-1])
			if len(line) > f.max {
				return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(line), f.max)
			}
			if len(line) > 0 {
				return line, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if f.discarding {
				continue
			}
			f.partial = append(f.partial, chunk...)
			if len(f.partial) > f.max+1 { // +1: the line may still end in "\r\n"
				f.partial, f.discarding = nil, true
				return nil, fmt.Errorf("%w: over %d bytes", ErrFrameTooLarge, f.max)
			}
		case errors.Is(err, io.EOF):
			f.eof = true
			if f.discarding {
				return nil, io.EOF
			}
			if line := f.take(chunk); len(bytes.TrimSpace(line)) > 0 && len(line) <= f.max {
				return line, nil // a final unterminated line is accepted leniently
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// take joins the partial line with chunk, strips one trailing "\r" and returns a fresh slice.
func (f *FrameReader) take(chunk []byte) []byte {
	line := append(f.partial, chunk...) // copies: chunk is only valid until the next read
	f.partial = nil
	return bytes.TrimSuffix(line, []byte{'\r'})
}

// EncodeFrame encodes v as one compact JSON line with its "\n". encoding/json escapes control
// characters inside strings, so the terminator is the only raw newline; NaN and Inf are refused.
func EncodeFrame(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends exactly one "\n"
		return nil, err
	}
	return buf.Bytes(), nil
}

// frameWriter coalesces frames: Write appends to a buffer and one flusher goroutine hands
// everything queued to the transport in a single write.
type frameWriter struct {
	w      io.Writer
	mu     sync.Mutex
	cond   *sync.Cond // signalled when the buffer was taken or the writer stopped
	buf    []byte
	closed bool
	err    error
	wake   chan struct{}
	done   chan struct{}
}

func newFrameWriter(w io.Writer) *frameWriter {
	fw := &frameWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	fw.cond = sync.NewCond(&fw.mu)
	go fw.loop()
	return fw
}

// write queues one encoded frame (ending in "\n"). It blocks only while more than
// writeHighWaterBytes wait. Frames are written in the order write was called.
func (fw *frameWriter) write(frame []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for len(fw.buf) > writeHighWaterBytes && !fw.closed && fw.err == nil {
		fw.cond.Wait()
	}
	if fw.closed || fw.err != nil {
		return ErrClosed
	}
	fw.buf = append(fw.buf, frame...)
	select {
	case fw.wake <- struct{}{}:
	default:
	}
	return nil
}

func (fw *frameWriter) loop() {
	defer close(fw.done)
	var spare []byte
	for range fw.wake {
		fw.mu.Lock()
		data := fw.buf
		fw.buf = spare[:0]
		closed := fw.closed
		fw.cond.Broadcast()
		fw.mu.Unlock()
		var err error
		if len(data) > 0 {
			_, err = fw.w.Write(data)
		}
		if err != nil {
			fw.mu.Lock()
			fw.err = err
			fw.cond.Broadcast()
			fw.mu.Unlock()
		}
		spare = data
		if closed || err != nil {
			return
		}
	}
}

// close flushes what is queued, waiting at most timeout, and stops the flusher. Later writes
// fail with ErrClosed. It does not close the underlying writer.
func (fw *frameWriter) close(timeout time.Duration) {
	fw.mu.Lock()
	if fw.closed {
		fw.mu.Unlock()
		return
	}
	fw.closed = true
	fw.cond.Broadcast()
	fw.mu.Unlock()
	select {
	case fw.wake <- struct{}{}:
	default:
	}
	select {
	case <-fw.done:
	case <-time.After(timeout):
	}
}
