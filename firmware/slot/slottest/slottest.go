package slottest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"patchbay.dev/firmware/slot"
)

// Target is one fresh slot under test.
type Target struct {
	// Slot is empty or holds an image nobody expects.
	Slot slot.Slot
	// FailAfter, if not nil, makes every write to the slot's storage
	// fail once n more bytes have been written, and returns the error
	// those writes fail with. Backends that cannot inject faults leave it
	// nil and the failing-storage tests are skipped.
	FailAfter func(n int64) error
}

// Run runs the conformance suite. newTarget is called once per subtest
// with that subtest's t; it may register cleanups on it, for example to
// check that every device it opened was closed.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, tg Target)
	}{
		{"Identity", testIdentity},
		{"WriteReadBack", testWriteReadBack},
		{"ChunkBoundaries", testChunkBoundaries},
		{"Rewrite", testRewrite},
		{"ShortImage", testShortImage},
		{"LongImage", testLongImage},
		{"TooLarge", testTooLarge},
		{"InterruptedWrite", testInterrupted},
		{"CancelledCommit", testCancelledCommit},
		{"CancelledWrite", testCancelledWrite},
		{"SourceError", testSourceError},
		{"FailingStorage", testFailingStorage},
		{"FinishedWriter", testFinishedWriter},
		{"Invalidate", testInvalidate},
		{"VerifyMismatch", testVerifyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newTarget(t))
		})
	}
}

// image returns n deterministic pseudo-random bytes.
func image(n int64, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'p', 'b'}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// write writes img with slot.Write and fails the test on error.
func write(t *testing.T, s slot.Slot, img []byte) {
	t.Helper()
	if err := slot.Write(t.Context(), s, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatalf("Write(%d bytes) = %v", len(img), err)
	}
}

// mustVerify checks that s holds img.
func mustVerify(t *testing.T, s slot.Slot, img []byte) {
	t.Helper()
	if err := slot.Verify(t.Context(), s, int64(len(img)), sum(img)); err != nil {
		t.Fatalf("Verify(%d bytes) = %v, want nil", len(img), err)
	}
}

// mustNotVerify checks that s does not hold img.
func mustNotVerify(t *testing.T, s slot.Slot, img []byte, why string) {
	t.Helper()
	if err := slot.Verify(t.Context(), s, int64(len(img)), sum(img)); err == nil {
		t.Fatalf("Verify(%d bytes) = nil after %s, want an error", len(img), why)
	}
}

func testIdentity(t *testing.T, tg Target) {
	if tg.Slot.Name() == "" {
		t.Error("Name() is empty")
	}
	if tg.Slot.Size() <= 0 {
		t.Errorf("Size() = %d, want > 0", tg.Slot.Size())
	}
}

func testWriteReadBack(t *testing.T, tg Target) {
	s := tg.Slot
	size := s.Size()
	for i, n := range []int64{0, 1, 4095, 4096, 4097, size / 3, size - 1, size} {
		img := image(n, uint64(i))
		write(t, s, img)
		mustVerify(t, s, img)
		rc, err := s.Open(t.Context())
		if err != nil {
			t.Fatalf("Open after %d-byte image: %v", n, err)
		}
		got := make([]byte, n)
		_, err = io.ReadFull(rc, got)
		if cerr := rc.Close(); cerr != nil {
			t.Errorf("Close reader: %v", cerr)
		}
		if err != nil {
			t.Fatalf("read back %d bytes: %v", n, err)
		}
		if !bytes.Equal(got, img) {
			t.Fatalf("read back %d bytes: differ from what was written", n)
		}
	}
}

// testChunkBoundaries writes with Write calls of awkward sizes, so that
// calls straddle every block boundary of every backend.
func testChunkBoundaries(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()-3, 7)
	w, err := s.Create(t.Context(), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sizes := []int{1, 7, 511, 4093, 65537, 3, 131071, 200000}
	for off, i := 0, 0; off < len(img); i++ {
		n := min(sizes[i%len(sizes)], len(img)-off)
		m, err := w.Write(img[off : off+n])
		if err != nil || m != n {
			t.Fatalf("Write(%d bytes at %d) = %d, %v", n, off, m, err)
		}
		off += n
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	mustVerify(t, s, img)
}

func testRewrite(t *testing.T, tg Target) {
	s := tg.Slot
	a, b := image(s.Size()/2, 1), image(s.Size()/4, 2)
	write(t, s, a)
	write(t, s, b)
	mustVerify(t, s, b)
	mustNotVerify(t, s, a, "writing a shorter image over it")
}

func testShortImage(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()/2, 3)
	w, err := s.Create(t.Context(), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(img[:len(img)-1]); err != nil {
		t.Fatal(err)
	}
	err = w.Commit(t.Context())
	le, ok := errors.AsType[*slot.LengthError](err)
	if !ok || le.Want != int64(len(img)) || le.Got != int64(len(img)-1) {
		t.Fatalf("Commit of a short image = %v, want *LengthError{Want: %d, Got: %d}", err, len(img), len(img)-1)
	}
	mustNotVerify(t, s, img, "a short image")

	// The same through Write, with a reader that ends early.
	err = slot.Write(t.Context(), s, bytes.NewReader(img[:100]), int64(len(img)))
	if _, ok := errors.AsType[*slot.LengthError](err); !ok {
		t.Errorf("Write of a short reader = %v, want *LengthError", err)
	}
	mustNotVerify(t, s, img, "a short reader")
}

func testLongImage(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()/2, 4)
	n := int64(len(img) - 10)
	w, err := s.Create(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(img); err == nil {
		t.Fatal("Write beyond the declared length succeeded")
	} else if _, ok := errors.AsType[*slot.LengthError](err); !ok {
		t.Fatalf("Write beyond the declared length = %v, want *LengthError", err)
	}
	if err := w.Commit(t.Context()); err == nil {
		t.Fatal("Commit after an over-long Write succeeded")
	}
	mustNotVerify(t, s, img[:n], "an over-long image")

	err = slot.Write(t.Context(), s, bytes.NewReader(img), n)
	if _, ok := errors.AsType[*slot.LengthError](err); !ok {
		t.Errorf("Write of a long reader = %v, want *LengthError", err)
	}
	mustNotVerify(t, s, img[:n], "a long reader")
}

func testTooLarge(t *testing.T, tg Target) {
	s := tg.Slot
	if _, err := s.Create(t.Context(), s.Size()+1); !errors.Is(err, slot.ErrTooLarge) {
		t.Errorf("Create(Size()+1) = %v, want ErrTooLarge", err)
	}
	if _, err := s.Create(t.Context(), -1); err == nil {
		t.Error("Create(-1) succeeded")
	}
	if err := slot.Verify(t.Context(), s, s.Size()+1, sum(nil)); !errors.Is(err, slot.ErrTooLarge) {
		t.Errorf("Verify(Size()+1) = %v, want ErrTooLarge", err)
	}
}

func testInterrupted(t *testing.T, tg Target) {
	s := tg.Slot
	// A whole number of 256 KiB, so that no backend can be holding back
	// a partial last block: only holding back the first protects.
	n := s.Size() / 2 &^ (256<<10 - 1)
	if n == 0 {
		n = s.Size() / 2
	}
	old := image(n, 5)
	write(t, s, old)
	for _, frac := range []int{2, 1} { // half the new image, then all of it
		img := image(int64(len(old)), 6) // same length, so only content tells
		w, err := s.Create(t.Context(), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(img[:len(img)/frac]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close without Commit = %v", err)
		}
		mustNotVerify(t, s, img, "an abandoned write")
		mustNotVerify(t, s, old, "starting to overwrite it")
	}
}

func testCancelledCommit(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()/3, 8)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := s.Create(ctx, int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(img); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context = %v, want context.Canceled", err)
	}
	mustNotVerify(t, s, img, "a cancelled commit")
}

// cancelReader cancels its context after n bytes.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.n -= n; r.n <= 0 {
		r.cancel()
	}
	return n, err
}

func testCancelledWrite(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()/2, 9)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancelReader{r: bytes.NewReader(img), n: len(img) / 3, cancel: cancel}
	if err := slot.Write(ctx, s, r, int64(len(img))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write cancelled midway = %v, want context.Canceled", err)
	}
	mustNotVerify(t, s, img, "a cancelled write")
}

var errSource = errors.New("slottest: connection reset")

func testSourceError(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()/2, 10)
	r := io.MultiReader(bytes.NewReader(img[:len(img)/2]), &errReader{errSource})
	if err := slot.Write(t.Context(), s, r, int64(len(img))); !errors.Is(err, errSource) {
		t.Fatalf("Write from a failing source = %v, want it to wrap %v", err, errSource)
	}
	mustNotVerify(t, s, img, "a failed download")
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

func testFailingStorage(t *testing.T, tg Target) {
	if tg.FailAfter == nil {
		t.Skip("the backend cannot inject storage faults")
	}
	s := tg.Slot
	img := image(s.Size()/2, 11)
	// The storage fails late in a first write, then at once in a second:
	// wherever it fails (Create, Write or Commit), the error says so and
	// the slot does not verify.
	for _, after := range []int64{int64(len(img)) - 1, 0} {
		injected := tg.FailAfter(after)
		err := writeSteps(t.Context(), s, img)
		if !errors.Is(err, injected) {
			t.Fatalf("write with storage failing after %d bytes = %v, want it to wrap %v", after, err, injected)
		}
		mustNotVerify(t, s, img, "a storage failure")
	}
}

// writeSteps writes img in three Write calls and commits.
func writeSteps(ctx context.Context, s slot.Slot, img []byte) error {
	w, err := s.Create(ctx, int64(len(img)))
	if err != nil {
		return err
	}
	defer w.Close()
	third := len(img) / 3
	for _, part := range [][]byte{img[:third], img[third : 2*third], img[2*third:]} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	return w.Commit(ctx)
}

func testFinishedWriter(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(1000, 12)
	w, err := s.Create(t.Context(), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(img); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, slot.ErrClosed) {
		t.Errorf("Write after Commit = %v, want ErrClosed", err)
	}
	if err := w.Commit(t.Context()); !errors.Is(err, slot.ErrClosed) {
		t.Errorf("second Commit = %v, want ErrClosed", err)
	}
	for i := range 2 {
		if err := w.Close(); err != nil {
			t.Errorf("Close #%d after Commit = %v, want nil", i+1, err)
		}
	}
	mustVerify(t, s, img)
}

func testInvalidate(t *testing.T, tg Target) {
	s := tg.Slot
	if err := s.Invalidate(t.Context()); err != nil {
		t.Fatalf("Invalidate on a fresh slot = %v", err)
	}
	img := image(s.Size()/4, 13)
	write(t, s, img)
	if err := s.Invalidate(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustNotVerify(t, s, img, "Invalidate")
}

func testVerifyMismatch(t *testing.T, tg Target) {
	s := tg.Slot
	img := image(s.Size()/4, 14)
	write(t, s, img)
	wrong := sum([]byte("another image"))
	err := slot.Verify(t.Context(), s, int64(len(img)), wrong)
	he, ok := errors.AsType[*slot.HashMismatchError](err)
	if !ok {
		t.Fatalf("Verify with the wrong hash = %v, want *HashMismatchError", err)
	}
	if !bytes.Equal(he.Want, wrong) || !bytes.Equal(he.Got, sum(img)) || he.Slot != s.Name() {
		t.Errorf("HashMismatchError = %+v, want Want %x, Got %x, Slot %q", he, wrong, sum(img), s.Name())
	}
	if err := slot.Verify(t.Context(), s, int64(len(img)), wrong[:8]); err == nil {
		t.Error("Verify with an 8-byte hash succeeded")
	}
}
