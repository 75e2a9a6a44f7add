package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// pipe returns a bufferedConn and the far end of its connection.
func pipe(t *testing.T) (*bufferedConn, net.Conn) {
	t.Helper()
	near, far := net.Pipe()
	c := newBufferedConn(near)
	t.Cleanup(func() {
		c.Close()
		far.Close()
	})
	return c, far
}

// TestBufferedConnCarriesEverything writes many small packets, as paho
// does, while the far end reads slowly and answers: every byte arrives,
// in order, and reads through the buffer see the answers intact.
func TestBufferedConnCarriesEverything(t *testing.T) {
	c, far := pipe(t)
	var want bytes.Buffer
	for i := range 60_000 { // several times maxWriteBehind
		fmt.Fprintf(&want, "packet %d;", i)
	}
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 1000) // slower than the writer: Write must wait, not drop
		for b.Len() < want.Len() {
			n, err := far.Read(buf)
			if err != nil {
				break
			}
			b.Write(buf[:n])
		}
		got <- b.Bytes()
		far.Write([]byte("answer one;answer two;"))
	}()
	for _, p := range bytes.SplitAfter(want.Bytes(), []byte(";")) {
		if _, err := c.Write(p); err != nil {
			t.Fatalf("Write(%q) = %v", p, err)
		}
	}
	if g := <-got; !bytes.Equal(g, want.Bytes()) {
		t.Fatalf("far end read %d bytes, want %d in order", len(g), want.Len())
	}
	for _, w := range []string{"answer one;", "answer two;"} {
		b := make([]byte, len(w))
		if _, err := io.ReadFull(c, b); err != nil || string(b) != w {
			t.Errorf("ReadFull = %q, %v; want %q", b, err, w)
		}
	}
}

// TestBufferedConnCloseWritesWhatWaits: what was written before Close
// reaches the far end (paho closes right after writing DISCONNECT).
func TestBufferedConnCloseWritesWhatWaits(t *testing.T) {
	c, far := pipe(t)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(far)
		got <- b
	}()
	for range 100 {
		if _, err := c.Write([]byte{0xe0, 0x00}); err != nil { // DISCONNECT
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if g := <-got; len(g) != 200 {
		t.Errorf("far end read %d bytes before EOF, want 200", len(g))
	}
	if _, err := c.Write([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
}

// TestBufferedConnCloseGivesUp: Close returns after closeFlushTimeout
// when the far end never reads.
func TestBufferedConnCloseGivesUp(t *testing.T) {
	c, _ := pipe(t)
	if _, err := c.Write([]byte("never read")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > closeFlushTimeout+2*time.Second {
		t.Errorf("Close took %v with a far end that does not read, want about %v", d, closeFlushTimeout)
	}
	select {
	case <-c.flushed:
	default:
		t.Error("the flushing goroutine still runs after Close")
	}
}

// TestBufferedConnReportsWriteErrors: once the connection fails, Writes
// say so instead of buffering for nothing.
func TestBufferedConnReportsWriteErrors(t *testing.T) {
	c, far := pipe(t)
	far.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Write([]byte("x"))
		if err != nil {
			if !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("Write = %v, want the connection's error", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Write to a closed connection kept succeeding for 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
