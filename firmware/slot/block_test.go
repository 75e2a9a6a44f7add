package slot_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/slot/slottest"
)

// blockTarget returns a Block slot on dev, a regular file or a device.
func blockTarget(t *testing.T, dev string) slottest.Target {
	s, err := slot.OpenBlock(t.Context(), "b", dev)
	if err != nil {
		t.Fatal(err)
	}
	checkClosed(t, slot.CountOpens(s))
	return slottest.Target{
		Slot: s,
		FailAfter: func(n int64) error {
			slot.FailWritesAfter(s, n, errDisk)
			return errDisk
		},
	}
}

// sizedFile returns a file of size zero bytes in t.TempDir().
func sizedFile(t *testing.T, size int64) string {
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBlockConformance(t *testing.T) {
	slottest.Run(t, func(t *testing.T) slottest.Target {
		return blockTarget(t, sizedFile(t, 1<<20+4096))
	})
}

func TestBlockSizeOfFile(t *testing.T) {
	s, err := slot.OpenBlock(t.Context(), "b", sizedFile(t, 3<<20+512))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Size(); got != 3<<20+512 {
		t.Errorf("Size() = %d, want %d", got, 3<<20+512)
	}
	if _, err := slot.OpenBlock(t.Context(), "b", sizedFile(t, 0)); err == nil {
		t.Error("OpenBlock of an empty file succeeded")
	}
}

// loopDevice attaches a file of size bytes to a loop device, which needs
// root and util-linux's losetup; without root the test is skipped, since
// no package can grant it.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("attaching a loop device needs root")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Fatal("losetup not found: install the Debian package util-linux (mount on older releases)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop device support in this kernel or container: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), "losetup", "--find", "--show", sizedFile(t, size)).CombinedOutput()
	if err != nil {
		t.Skipf("losetup cannot attach a loop device here: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// TestBlockLoopDevice runs the suite on a real block device, whose size
// comes from BLKGETSIZE64 rather than from the file's length.
func TestBlockLoopDevice(t *testing.T) {
	const size = 2 << 20
	dev := loopDevice(t, size)
	s, err := slot.OpenBlock(t.Context(), "b", dev)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() != size {
		t.Fatalf("Size() of %s = %d, want %d", dev, s.Size(), size)
	}
	slottest.Run(t, func(t *testing.T) slottest.Target { return blockTarget(t, dev) })
}
