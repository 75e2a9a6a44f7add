package slot_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/slot/slottest"
)

var errDisk = errors.New("injected: disk write failed")

// checkClosed fails t at its end if c saw an open without a close.
func checkClosed(t *testing.T, c *slot.OpenCounter) {
	t.Cleanup(func() {
		if opens, closes := c.Counts(); opens != closes {
			t.Errorf("storage opened %d times, closed %d times", opens, closes)
		}
	})
}

func TestFileConformance(t *testing.T) {
	slottest.Run(t, func(t *testing.T) slottest.Target {
		s := slot.NewFile("a", filepath.Join(t.TempDir(), "slot-a.img"), 1<<20+123)
		checkClosed(t, slot.CountOpens(s))
		return slottest.Target{
			Slot: s,
			FailAfter: func(n int64) error {
				slot.FailWritesAfter(s, n, errDisk)
				return errDisk
			},
		}
	})
}

// TestFileHeadWrittenLast checks the order that makes an interrupted write
// harmless: until Commit, the first block of the file is a hole.
func TestFileHeadWrittenLast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slot-b.img")
	s := slot.NewFile("b", path, 4<<20)
	img := make([]byte, 1<<20)
	for i := range img {
		img[i] = 0xA5
	}
	w, err := s.Create(t.Context(), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(img); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(onDisk) == 0 || onDisk[0] != 0 {
		t.Fatalf("before Commit the file starts with % x..., want the first block not yet written", onDisk[:min(4, len(onDisk))])
	}
	if onDisk[len(onDisk)-1] != 0xA5 {
		t.Errorf("before Commit the blocks after the first are not written")
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if onDisk, _ = os.ReadFile(path); onDisk[0] != 0xA5 || len(onDisk) != len(img) {
		t.Errorf("after Commit the file has %d bytes starting % x, want the image", len(onDisk), onDisk[:1])
	}
}

func TestFileMissingIsInvalid(t *testing.T) {
	s := slot.NewFile("a", filepath.Join(t.TempDir(), "never-written.img"), 1<<20)
	if err := s.Invalidate(t.Context()); err != nil {
		t.Errorf("Invalidate of a missing file = %v", err)
	}
	if err := slot.Verify(t.Context(), s, 0, make([]byte, 32)); err == nil {
		t.Error("Verify of a missing file succeeded")
	}
}
