package install

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/slot/slottest"
)

func TestResumableConformance(t *testing.T) {
	slottest.Run(t, func(t *testing.T) slottest.Target {
		dir := t.TempDir()
		f := slot.NewFile("B", filepath.Join(dir, "slot-b.img"), 1<<20+123)
		return slottest.Target{Slot: NewResumable(f, filepath.Join(dir, "head"))}
	})
}

// TestResumableBlockConformance runs the suite over a block-device slot
// (a regular file of fixed size stands in for the device).
func TestResumableBlockConformance(t *testing.T) {
	slottest.Run(t, func(t *testing.T) slottest.Target {
		dir := t.TempDir()
		dev := filepath.Join(dir, "mmcblk0p3")
		if err := os.WriteFile(dev, make([]byte, 1<<20+123), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := slot.OpenBlock(t.Context(), "B", dev)
		if err != nil {
			t.Fatal(err)
		}
		return slottest.Target{Slot: NewResumable(b, filepath.Join(dir, "head"))}
	})
}

func randomImage(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestResumeAfterCheckpoint(t *testing.T) {
	img := randomImage(700<<10, 1)
	tests := []struct {
		name       string
		checkpoint int // bytes written before the checkpoint
		extra      int // bytes written after it, lost with the process
	}{
		{"inside the head", 50 << 10, 10 << 10},
		{"at the end of the head", headSize, 0},
		{"past the head", 400 << 10, 123},
		{"everything", len(img), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := NewResumable(slot.NewFile("B", filepath.Join(dir, "b.img"), 1<<20), filepath.Join(dir, "head"))
			w, err := r.Create(t.Context(), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(img[:tt.checkpoint]); err != nil {
				t.Fatal(err)
			}
			if err := w.(checkpointer).Checkpoint(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(img[tt.checkpoint : tt.checkpoint+tt.extra]); err != nil {
				t.Fatal(err)
			}
			// The process dies: no Commit, no Close.
			prefix, w2, err := r.Resume(t.Context(), int64(len(img)), int64(tt.checkpoint))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(prefix)
			prefix.Close()
			if err != nil || !bytes.Equal(got, img[:tt.checkpoint]) {
				t.Fatalf("prefix = %d bytes (%v), equal %v; want the %d checkpointed bytes", len(got), err, bytes.Equal(got, img[:tt.checkpoint]), tt.checkpoint)
			}
			if _, err := w2.Write(img[tt.checkpoint:]); err != nil {
				t.Fatal(err)
			}
			if err := w2.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(img)
			if err := slot.Verify(t.Context(), r, int64(len(img)), sum[:]); err != nil {
				t.Fatalf("resumed image does not verify: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "head")); !os.IsNotExist(err) {
				t.Errorf("head file left after commit: %v", err)
			}
		})
	}
}

func TestResumeRefused(t *testing.T) {
	img := randomImage(600<<10, 2)
	tests := []struct {
		name   string
		damage func(t *testing.T, slotPath, head string)
	}{
		{"head file gone", func(t *testing.T, _, head string) { os.Remove(head) }},
		{"head file short", func(t *testing.T, _, head string) { os.Truncate(head, 100) }},
		{"slot lost its tail", func(t *testing.T, slotPath, _ string) { os.Truncate(slotPath, 300<<10) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			slotPath, head := filepath.Join(dir, "b.img"), filepath.Join(dir, "head")
			r := NewResumable(slot.NewFile("B", slotPath, 1<<20), head)
			w, err := r.Create(t.Context(), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(img[:500<<10]); err != nil {
				t.Fatal(err)
			}
			if err := w.(checkpointer).Checkpoint(t.Context()); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, slotPath, head)
			prefix, w2, err := r.Resume(t.Context(), int64(len(img)), 500<<10)
			if err == nil {
				_, err = io.ReadAll(prefix)
				prefix.Close()
				w2.Close()
			}
			if !errors.Is(err, ErrNoCheckpoint) {
				t.Errorf("Resume = %v, want ErrNoCheckpoint", err)
			}
		})
	}
}

func TestResumableReadsBackEveryByte(t *testing.T) {
	dir := t.TempDir()
	r := NewResumable(slot.NewFile("B", filepath.Join(dir, "slot-b.img"), 1<<20), filepath.Join(dir, "head"))
	img := randomImage(900<<10, 3)
	w, err := r.Create(t.Context(), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(img); err != nil {
		t.Fatal(err)
	}
	rb := w.(readBacker)
	if rb.ReadBackAll() {
		t.Fatal("ReadBackAll before Commit: the head is not written yet")
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !rb.ReadBackAll() {
		t.Fatal("ReadBackAll = false after a clean Commit")
	}
}

// TestResumableNoticesBytesTheSlotDidNotKeep changes the slot under the
// writer, as a failing medium would, and reads back.
func TestResumableNoticesBytesTheSlotDidNotKeep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "slot-b.img")
	r := NewResumable(slot.NewFile("B", path, 1<<20), filepath.Join(dir, "head"))
	img := randomImage(600<<10, 4)
	w, err := r.Create(t.Context(), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(img[:400<<10]); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^img[300<<10]}, 300<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = w.(*resumeWriter).readBack(img[200<<10:400<<10], 200<<10)
	var rbe *ReadBackError
	if !errors.As(err, &rbe) || rbe.Offset != 200<<10 || rbe.Slot != "B" {
		t.Fatalf("read back of a changed chunk = %v, want a *ReadBackError at %d", err, 200<<10)
	}
	if reason, transient := classify(retry(ReasonWrite, err), ReasonDownload); reason != ReasonWrite || !transient {
		t.Errorf("classify = %s, %v; want write-failed, transient", reason, transient)
	}
}
