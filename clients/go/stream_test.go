package keel

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll drains a FrameReader, recording oversize lines as "!".
func readAll(t *testing.T, r *FrameReader) []string {
	t.Helper()
	var out []string
	for {
		line, err := r.Read()
		switch {
		case errors.Is(err, io.EOF):
			return out
		case errors.Is(err, ErrFrameTooLarge):
			out = append(out, "!")
		case err != nil:
			t.Fatalf("Read: %v", err)
		default:
			out = append(out, string(line))
		}
	}
}

// chunked returns a reader that yields data in pieces of at most n bytes.
type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := c.n
	if k > len(p) {
		k = len(p)
	}
	if k > len(c.data) {
		k = len(c.data)
	}
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func TestFrameReaderSplitsAtEveryByteAndPacksManyFramesPerRead(t *testing.T) {
	input := "{\"a\":1}\n\n{\"b\":\"x\\ny\"}\r\n" + strings.Repeat("z", 40) + "\n[1,2]\n" + "tail"
	want := []string{`{"a":1}`, `{"b":"x\ny"}`, "!", "[1,2]", "tail"}
	for n := 1; n <= len(input); n++ {
		got := readAll(t, NewFrameReader(&chunked{data: []byte(input), n: n}, 30))
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunk %d: got %q, want %q", n, got, want)
		}
	}
	got := readAll(t, NewFrameReader(iotest.OneByteReader(strings.NewReader(input)), 30))
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("one byte at a time: got %q", got)
	}
}

func TestFrameReaderAcceptsALineOfExactlyTheLimitAndRejectsOneByteMore(t *testing.T) {
	limit := readBufferBytes*2 + 7 // longer than the bufio buffer, so it is assembled from pieces
	exact := strings.Repeat("a", limit)
	input := exact + "\n" + exact + "a\n" + exact + "\r\nok\n"
	got := readAll(t, NewFrameReader(strings.NewReader(input), limit))
	if len(got) != 4 || got[0] != exact || got[1] != "!" || got[2] != exact || got[3] != "ok" {
		t.Fatalf("got %d frames: %.20q", len(got), got)
	}
}

func TestFrameReaderDiscardsAnOversizeLineUpToItsNewlineOnly(t *testing.T) {
	input := strings.Repeat("x", 100) + "\n" + `{"next":true}` + "\n"
	got := readAll(t, NewFrameReader(&chunked{data: []byte(input), n: 7}, 20))
	if strings.Join(got, "|") != `!|{"next":true}` {
		t.Fatalf("got %q", got)
	}
}

func TestEncodeFrameNeverEmitsARawNewline(t *testing.T) {
	frame, err := EncodeFrame(map[string]any{"text": "a\nb\r\u2028<&>", "n": 1})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(frame, []byte{'\n'}) != 1 || frame[len(frame)-1] != '\n' {
		t.Fatalf("frame %q must have exactly one newline, at the end", frame)
	}
	if !bytes.Contains(frame, []byte("<&>")) {
		t.Fatalf("frame %q escapes HTML needlessly", frame)
	}
}

func TestEncodeFrameRefusesNaN(t *testing.T) {
	if _, err := EncodeFrame(map[string]any{"x": nan()}); err == nil {
		t.Fatal("NaN is not JSON")
	}
}

func nan() float64 { zero := 0.0; return zero / zero }

func TestFrameWriterCoalescesAndKeepsOrder(t *testing.T) {
	var buf syncBuffer
	fw := newFrameWriter(&buf)
	for i := 0; i < 1000; i++ {
		if err := fw.write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
	}
	fw.close(flushGrace)
	if got := buf.String(); got != strings.Repeat("x\n", 1000) {
		t.Fatalf("got %d bytes", len(got))
	}
	if buf.writes >= 1000 {
		t.Fatalf("%d writes for 1000 frames: not coalesced", buf.writes)
	}
	if err := fw.write([]byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}
