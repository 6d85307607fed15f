package keel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// rawPeer is the far end of a Conn as bytes: the test writes lines and reads lines.
type rawPeer struct {
	net.Conn
	lines *bufio.Scanner
}

func connPair(t *testing.T) (*Conn, *rawPeer) {
	t.Helper()
	a, b := net.Pipe()
	c := NewConn(a, a, a, ConnOptions{Logger: quietLogger()})
	c.Handle("ping", func(context.Context, json.RawMessage) (any, error) { return struct{}{}, nil })
	c.Handle("echo", func(_ context.Context, p json.RawMessage) (any, error) { return p, nil })
	c.Handle("boom", func(context.Context, json.RawMessage) (any, error) { panic("boom") })
	c.Handle("coded", func(context.Context, json.RawMessage) (any, error) {
		return nil, newError(CodeContractConflict, "conflict", map[string]string{"activity": "x"})
	})
	c.Start()
	s := bufio.NewScanner(b)
	s.Buffer(nil, 1<<20)
	t.Cleanup(func() { c.Close(); b.Close() })
	return c, &rawPeer{Conn: b, lines: s}
}

func (p *rawPeer) send(t *testing.T, line string) {
	t.Helper()
	p.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := p.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

func (p *rawPeer) expect(t *testing.T, want string) {
	t.Helper()
	p.SetReadDeadline(time.Now().Add(testTimeout))
	if !p.lines.Scan() {
		t.Fatalf("no line: %v", p.lines.Err())
	}
	sameJSON(t, p.lines.Text(), want)
}

func TestConnAnswersRequestsWithTheCallersIDStringOrNumber(t *testing.T) {
	_, p := connPair(t)
	p.send(t, `{"jsonrpc":"2.0","id":"p1","method":"ping","params":{}}`)
	p.expect(t, `{"jsonrpc":"2.0","id":"p1","result":{}}`)
	p.send(t, `{"jsonrpc":"2.0","id":-1.5,"method":"ping"}`)
	p.expect(t, `{"jsonrpc":"2.0","id":-1.5,"result":{}}`)
	p.send(t, `{"jsonrpc":"2.0","id":7,"method":"echo","params":{"s":"h\u00e9\n"}}`)
	p.expect(t, `{"jsonrpc":"2.0","id":7,"result":{"s":"hé\n"}}`)
}

func TestConnAnswersBadInputAndStaysUp(t *testing.T) {
	_, p := connPair(t)
	for _, c := range []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the line is not UTF-8 JSON"}}`},
		{"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the line is not UTF-8 JSON"}}`},
		{`42`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: a message must be a JSON object"}}`},
		{`{"jsonrpc":"1.0","id":3,"method":"ping"}`, `{"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"Invalid Request: \"jsonrpc\" must be \"2.0\""}}`},
		{`{"jsonrpc":"2.0","id":4,"method":42}`, `{"jsonrpc":"2.0","id":4,"error":{"code":-32600,"message":"Invalid Request: bad method or id"}}`},
		{`{"jsonrpc":"2.0","id":5,"method":"ping","params":[1]}`, `{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"Invalid params: params must be an object"}}`},
		{`{"jsonrpc":"2.0","id":"u","method":"no/such"}`, `{"jsonrpc":"2.0","id":"u","error":{"code":-32601,"message":"Method not found: no/such"}}`},
		{`{"jsonrpc":"2.0","id":6,"method":"coded"}`, `{"jsonrpc":"2.0","id":6,"error":{"code":2005,"message":"conflict","data":{"activity":"x"}}}`},
	} {
		p.send(t, c.in)
		p.expect(t, c.want)
	}
	p.send(t, `{"jsonrpc":"2.0","id":8,"method":"boom"}`)
	p.SetReadDeadline(time.Now().Add(testTimeout))
	p.lines.Scan()
	if !strings.Contains(p.lines.Text(), `"code":-32603`) || !strings.Contains(p.lines.Text(), `"incident"`) {
		t.Fatalf("a panic must become -32603 with an incident id: %s", p.lines.Text())
	}
	p.send(t, `{"jsonrpc":"2.0","method":"no/such/notification"}`)
	p.send(t, `{"jsonrpc":"2.0","id":99,"result":{}}`) // a response nobody asked for
	p.send(t, `{"jsonrpc":"2.0","id":9,"method":"ping"}`)
	p.expect(t, `{"jsonrpc":"2.0","id":9,"result":{}}`)
}

func TestConnAnswersABatchWithAnArrayAndAnEmptyBatchWithOneError(t *testing.T) {
	_, p := connPair(t)
	p.send(t, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"ping"},{"foo":1}]`)
	p.expect(t, `[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: \"jsonrpc\" must be \"2.0\""}}]`)
	p.send(t, `[{"jsonrpc":"2.0","method":"ping"}]`)
	p.send(t, `[]`)
	p.expect(t, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: empty batch"}}`)
}

func TestConnCallMatchesAnswersByIDInAnyOrder(t *testing.T) {
	c, p := connPair(t)
	type answer struct {
		v   map[string]int
		err error
	}
	results := make([]chan answer, 2)
	for i := range results {
		results[i] = make(chan answer, 1)
		i := i
		go func() {
			var v map[string]int
			err := c.Call(context.Background(), "m", map[string]int{"i": i}, &v)
			results[i] <- answer{v, err}
		}()
	}
	ids := map[int]json.RawMessage{}
	for range results {
		p.SetReadDeadline(time.Now().Add(testTimeout))
		p.lines.Scan()
		var req struct {
			ID     json.RawMessage `json:"id"`
			Params map[string]int  `json:"params"`
		}
		if err := json.Unmarshal(p.lines.Bytes(), &req); err != nil {
			t.Fatal(err)
		}
		ids[req.Params["i"]] = req.ID
	}
	p.send(t, `{"jsonrpc":"2.0","id":`+string(ids[1])+`,"error":{"code":2006,"message":"superseded"}}`)
	p.send(t, `{"jsonrpc":"2.0","id":`+string(ids[0])+`,"result":{"ok":1}}`)
	a0, a1 := <-results[0], <-results[1]
	if a0.err != nil || a0.v["ok"] != 1 {
		t.Fatalf("call 0: %v %v", a0.v, a0.err)
	}
	var rpc *Error
	if !errors.As(a1.err, &rpc) || rpc.Code != CodeAttemptSuperseded {
		t.Fatalf("call 1: %v", a1.err)
	}
}

func TestConnCloseFailsPendingCallsAndCancelsHandlers(t *testing.T) {
	c, p := connPair(t)
	errs := make(chan error, 1)
	go func() { errs <- c.Call(context.Background(), "m", nil, nil) }()
	p.SetReadDeadline(time.Now().Add(testTimeout))
	p.lines.Scan()
	if !strings.Contains(p.lines.Text(), `"params":{}`) {
		t.Fatalf("params must always be an object: %s", p.lines.Text())
	}
	go func() { _, _ = p.Read(make([]byte, 1024)) }() // let Close's flush through the pipe
	p.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("pending call not failed")
	}
	<-c.Done()
	if err := c.Call(context.Background(), "m", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
}

func TestConnCallGivesUpWhenItsContextEnds(t *testing.T) {
	c, p := connPair(t)
	go func() { p.lines.Scan() }()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, "m", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}
