package keel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Incoming messages: requests, notifications, responses and batches, per JSON-RPC 2.0 and
// docs/protocol.md ("A batch is a JSON array of messages; the answer is an array of the
// responses (none for an all-notification batch)").

// reply is an answer to write now, an answer to compute later, or nothing (both nil).
type reply struct {
	now   json.RawMessage
	later func() json.RawMessage
}

func (c *Conn) handleLine(line []byte) {
	if !utf8.Valid(line) || !json.Valid(line) {
		// "A line that is not JSON gets -32700 parseError with id: null; the connection stays open."
		c.writeReply(errorReply(nil, CodeParseError, "Parse error: the line is not UTF-8 JSON", nil))
		return
	}
	line = bytes.TrimSpace(line)
	if line[0] != '[' {
		c.deliver(c.handleMessage(line))
		return
	}
	var batch []json.RawMessage
	_ = json.Unmarshal(line, &batch) // valid JSON starting with '[' is an array
	if len(batch) == 0 {
		c.writeReply(errorReply(nil, CodeInvalidRequest, "Invalid Request: empty batch", nil))
		return
	}
	replies := make([]reply, 0, len(batch))
	for _, message := range batch {
		if r := c.handleMessage(message); r.now != nil || r.later != nil {
			replies = append(replies, r)
		}
	}
	if len(replies) == 0 {
		return // "none for an all-notification batch"
	}
	c.running.Add(1)
	go func() {
		defer c.running.Done()
		answers := make([][]byte, len(replies))
		var wg sync.WaitGroup
		for i, r := range replies {
			if r.now != nil {
				answers[i] = r.now
				continue
			}
			wg.Add(1)
			go func(i int, later func() json.RawMessage) { defer wg.Done(); answers[i] = later() }(i, r.later)
		}
		wg.Wait()
		c.writeReply(append(append([]byte{'['}, bytes.Join(answers, []byte{','})...), ']'))
	}()
}

func (c *Conn) deliver(r reply) {
	if r.now != nil {
		c.writeReply(r.now)
	} else if r.later != nil {
		c.running.Add(1)
		atomic.AddInt64(&c.unwritten, 1)
		go func() {
			defer c.running.Done()
			c.writeReply(r.later())
			atomic.AddInt64(&c.unwritten, -1)
		}()
	}
}

func (c *Conn) writeReply(answer json.RawMessage) {
	if err := c.out.write(append(answer, '\n')); err != nil {
		c.logger.Printf("answer dropped: %v", err)
	}
}

func (c *Conn) handleMessage(raw json.RawMessage) reply {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return reply{now: errorReply(nil, CodeInvalidRequest, "Invalid Request: a message must be a JSON object", nil)}
	}
	id, hasID := m["id"]
	answerID := id
	if !hasID || !validID(id) {
		answerID = nil
	}
	if string(m["jsonrpc"]) != `"2.0"` {
		return reply{now: errorReply(answerID, CodeInvalidRequest, `Invalid Request: "jsonrpc" must be "2.0"`, nil)}
	}
	method, hasMethod := m["method"]
	if !hasMethod {
		_, hasResult := m["result"]
		rpcErr, hasError := m["error"]
		if hasID && (hasResult || hasError) {
			c.handleResponse(id, m["result"], rpcErr, hasError)
			return reply{}
		}
		return reply{now: errorReply(answerID, CodeInvalidRequest, "Invalid Request: neither a request nor a response", nil)}
	}
	var name string
	if err := json.Unmarshal(method, &name); err != nil || (hasID && !validID(id)) {
		return reply{now: errorReply(answerID, CodeInvalidRequest, "Invalid Request: bad method or id", nil)}
	}
	params, hasParams := m["params"]
	if !hasParams || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	if !hasID {
		if h := c.notifications[name]; h != nil && params[0] == '{' {
			h(params)
		}
		return reply{} // unknown notifications are ignored
	}
	if params[0] != '{' {
		return reply{now: errorReply(id, CodeInvalidParams, "Invalid params: params must be an object", nil)}
	}
	accept := c.handlers[name]
	if accept == nil {
		return reply{now: errorReply(id, CodeMethodNotFound, "Method not found: "+name, nil)}
	}
	run, err := accept(params)
	if err != nil {
		return reply{now: c.replyFor(id, nil, err)}
	}
	ctx := c.ctx
	return reply{later: func() json.RawMessage {
		result, err := c.runHandler(ctx, run)
		return c.replyFor(id, result, err)
	}}
}

func (c *Conn) runHandler(ctx context.Context, run func(context.Context) (any, error)) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return run(ctx)
}

func (c *Conn) replyFor(id json.RawMessage, result any, err error) json.RawMessage {
	if err != nil {
		var rpc *Error
		if errors.As(err, &rpc) {
			return errorReply(id, rpc.Code, rpc.Message, rpc.Data)
		}
		incident := incidentID()
		c.logger.Printf("request handler failed (incident %s): %v", incident, err)
		return errorReply(id, CodeInternalError, "Internal error", map[string]string{"incident": incident})
	}
	encoded, encErr := json.Marshal(result)
	if encErr != nil {
		c.logger.Printf("cannot encode a result: %v", encErr)
		return errorReply(id, CodeInternalError, "Internal error: the result is not JSON", nil)
	}
	out, _ := json.Marshal(wireResponse{JSONRPC: "2.0", ID: orNull(id), Result: encoded})
	return out
}

func (c *Conn) handleResponse(id, result, rpcErr json.RawMessage, isError bool) {
	n, err := strconv.ParseInt(string(id), 10, 64) // our ids are integers
	c.mu.Lock()
	call := c.pending[n]
	if err == nil && call != nil {
		delete(c.pending, n)
	}
	c.mu.Unlock()
	if err != nil || call == nil {
		return // "a response whose id matches no request in flight is dropped silently"
	}
	if isError {
		e := &Error{}
		if json.Unmarshal(rpcErr, e) != nil {
			e = &Error{Code: CodeInternalError, Message: "malformed error object: " + string(rpcErr)}
		}
		call.err = e
	} else {
		call.result = result
	}
	close(call.done)
}

type wireResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

func errorReply(id json.RawMessage, code int, message string, data any) json.RawMessage {
	e := newError(code, message, nil)
	if raw, ok := data.(json.RawMessage); ok {
		e.Data = raw
	} else if data != nil {
		e = newError(code, message, data)
	}
	out, _ := json.Marshal(wireResponse{JSONRPC: "2.0", ID: orNull(id), Error: e})
	return out
}

func orNull(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	return id
}

// validID: "id is a string or a number" (or null).
func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

func incidentID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// waitOtherAnswers waits (up to bound) until no answer but the caller's own is still to be
// written, so a shutdown answer never overtakes the results it drained.
func (c *Conn) waitOtherAnswers(bound time.Duration) {
	deadline := time.Now().Add(bound)
	for atomic.LoadInt64(&c.unwritten) > 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}
