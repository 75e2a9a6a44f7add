package trust

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func pipelineTarget(data []byte) Target {
	sum := sha256.Sum256(data)
	return Target{Name: "t", Length: int64(len(data)), Hashes: map[string][]byte{"sha256": sum[:]}}
}

func TestCopyVerifiedMovesEveryByteInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, pipeChunk - 1, pipeChunk, pipeChunk + 1, 3*pipeChunk*pipeDepth + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for name, src := range map[string]io.Reader{
			"whole":    bytes.NewReader(data),
			"one-byte": iotest.OneByteReader(bytes.NewReader(data)),
			"half":     iotest.HalfReader(bytes.NewReader(data)),
		} {
			if name == "one-byte" && size > 4*pipeChunk {
				continue
			}
			v, err := NewVerifier(pipelineTarget(data))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := copyVerified(context.Background(), &out, v, io.LimitReader(src, int64(size)+1)); err != nil {
				t.Fatalf("%d bytes, %s: %v", size, name, err)
			}
			if err := v.Verify(); err != nil {
				t.Fatalf("%d bytes, %s: %v", size, name, err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("%d bytes, %s: the writer got other bytes (%d)", size, name, out.Len())
			}
		}
	}
}

func TestCopyVerifiedStopsAtTheSignedLength(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 2*pipeChunk+5)
	signed := pipelineTarget(data[:pipeChunk+3])
	v, err := NewVerifier(signed)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = copyVerified(context.Background(), &out, v, io.LimitReader(bytes.NewReader(data), signed.Length+1))
	var le *LengthError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LengthError", err)
	}
	if int64(out.Len()) > signed.Length {
		t.Fatalf("the writer got %d bytes, more than the signed %d", out.Len(), signed.Length)
	}
}

type failingWriter struct {
	n, after int
	err      error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.after {
		return 0, w.err
	}
	w.n += len(p)
	return len(p), nil
}

// endless yields bytes forever and counts them.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	e.n += int64(len(p))
	return len(p), nil
}

func TestCopyVerifiedReportsTheWritersErrorAndStopsReading(t *testing.T) {
	const length = 1 << 30
	v, err := NewVerifier(Target{Name: "t", Length: length, Hashes: map[string][]byte{"sha256": make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("slot full")
	src := &endless{}
	err = copyVerified(context.Background(), &failingWriter{after: 2 * pipeChunk, err: full}, v, io.LimitReader(src, length+1))
	if !errors.Is(err, full) {
		t.Fatalf("err = %v, want the writer's", err)
	}
	if src.n > int64(2*pipeDepth+3)*pipeChunk {
		t.Fatalf("read %d bytes after the writer failed at %d", src.n, 2*pipeChunk)
	}
}

func TestCopyVerifiedStopsWhenCancelled(t *testing.T) {
	const length = 1 << 30
	v, err := NewVerifier(Target{Name: "t", Length: length, Hashes: map[string][]byte{"sha256": make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil })
	err = copyVerified(ctx, w, v, io.LimitReader(&endless{}, length+1))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
