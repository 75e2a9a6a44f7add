package bootenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var errPowerCut = errors.New("test: power cut")

// power is a budget of bytes that may still be written before the lights
// go out.
type power struct {
	mu   sync.Mutex
	left int
	off  bool
}

// cutFile is a file on power: the write that crosses the budget is
// applied up to it and fails, and so does everything after.
type cutFile struct {
	fileDevice
	p *power
}

func (f cutFile) WriteAt(b []byte, off int64) (int, error) {
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	if f.p.off {
		return 0, errPowerCut
	}
	if f.p.left >= len(b) {
		f.p.left -= len(b)
		return f.fileDevice.WriteAt(b, off)
	}
	n, _ := f.fileDevice.WriteAt(b[:f.p.left], off)
	f.p.left, f.p.off = 0, true
	return n, errPowerCut
}

func (f cutFile) Sync() error {
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	if f.p.off {
		return errPowerCut
	}
	return f.fileDevice.Sync()
}

// cutPowerAfter makes s's writes lose power after n bytes.
func cutPowerAfter(s *Store, n int) {
	p := &power{left: n}
	s.open = func(ctx context.Context, loc Location, writable bool) (medium, error) {
		m, err := openMedium(ctx, loc, writable)
		if err != nil {
			return nil, err
		}
		fm := m.(*fileMedium)
		fm.f = cutFile{fileDevice: fm.f, p: p}
		return fm, nil
	}
}

// TestPowerCutRedundant cuts the power at every byte of a write to a
// redundant environment: afterwards this package and fw_printenv must both
// read a valid environment, the old one or the new one.
func TestPowerCutRedundant(t *testing.T) {
	t.Parallel()
	const size = 0x100
	oldValue, newValue := "old", strings.Repeat("n", 180)
	for cut := 0; cut <= size; cut++ {
		e := newEnvFile(t, true, size)
		setup := e.store()
		if err := setup.Write(t.Context(), mustEnv(t, map[string]string{"v": "older"})); err != nil {
			t.Fatal(err)
		}
		if _, err := setup.Apply(t.Context(), Changes{"v": &oldValue}); err != nil {
			t.Fatal(err)
		}
		s := e.store()
		cutPowerAfter(s, cut)
		_, err := s.Apply(t.Context(), Changes{"v": &newValue})
		if (err == nil) != (cut >= size) {
			t.Fatalf("cut after %d bytes: Apply = %v", cut, err)
		}
		env, err := e.store().Read(t.Context())
		if err != nil {
			t.Fatalf("cut after %d bytes: Read = %v, want a valid environment", cut, err)
		}
		got, _ := env.Get("v")
		if got != oldValue && got != newValue {
			t.Fatalf("cut after %d bytes: v=%q, want the old or the new value", cut, got)
		}
		if cut < size && got != oldValue {
			t.Errorf("cut after %d bytes: the new value is in use before its header was written", cut)
		}
		if theirs := e.mustPrintenv(); theirs["v"] != got {
			t.Fatalf("cut after %d bytes: fw_printenv v=%q, Read v=%q", cut, theirs["v"], got)
		}
	}
}

// TestPowerCutSingle documents what a single copy gives: the old
// environment, the new one, or none at all (U-Boot then boots its default
// environment) — never a mix.
func TestPowerCutSingle(t *testing.T) {
	t.Parallel()
	const size = 0x100
	outcomes := map[string]int{}
	for cut := 0; cut <= size; cut++ {
		e := newEnvFile(t, false, size)
		if err := e.store().Write(t.Context(), mustEnv(t, map[string]string{"v": "old"})); err != nil {
			t.Fatal(err)
		}
		s := e.store()
		cutPowerAfter(s, cut)
		s.Apply(t.Context(), Changes{"v": new("new")})
		env, err := e.store().Read(t.Context())
		switch v, _ := env.Get("v"); {
		case err != nil && errors.Is(err, ErrCorrupt):
			outcomes["invalid"]++
		case err != nil:
			t.Fatalf("cut after %d bytes: Read = %v", cut, err)
		case v == "old" || v == "new":
			outcomes[v]++
		default:
			t.Fatalf("cut after %d bytes: v=%q", cut, v)
		}
	}
	t.Logf("single copy after a power cut: %v", outcomes)
	if outcomes["new"] == 0 || outcomes["invalid"] == 0 {
		t.Errorf("outcomes %v: want both torn and complete writes among the cut points", outcomes)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "env.bin")
	if err := os.WriteFile(file, make([]byte, 0x800), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		loc  Location
		want string
		is   error
	}{
		{"ubi volume", Location{Device: "/dev/ubi0_1", Size: 0x1000}, "UBI volumes are not supported", errors.ErrUnsupported},
		{"negative offset on a file", Location{Device: file, Offset: -0x100, Size: 0x100}, "counts from the end of a block device", nil},
		{"missing device", Location{Device: filepath.Join(dir, "nothere"), Size: 0x100}, "nothere", os.ErrNotExist},
		{"beyond the end", Location{Device: file, Offset: 0x700, Size: 0x200}, "ends after 256 of the copy's 512 bytes", nil},
		{"a directory", Location{Device: dir, Size: 0x100}, "neither a file nor", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Copies: []Location{tt.loc}, DisableLock: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Read(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("Read = %v, want an error containing %q (is %v)", err, tt.want, tt.is)
			}
		})
	}
}

// TestUnreadableCopy checks that a copy that cannot be read is skipped
// when reading, but that Apply refuses to write without seeing it.
func TestUnreadableCopy(t *testing.T) {
	e := newEnvFile(t, true, 0x1000)
	s := e.store()
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"a": "1"})); err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	cfg.Copies[0].Device = filepath.Join(t.TempDir(), "gone")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.Read(t.Context())
	if err != nil || env.String() != "a=1\n" {
		t.Fatalf("Read with copy 0 missing = %q, %v, want a=1 from copy 1", env.String(), err)
	}
	if _, err := s.Apply(t.Context(), Changes{"a": new("2")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Apply with copy 0 missing = %v, want its os.ErrNotExist", err)
	}
}

func TestApplyTooLarge(t *testing.T) {
	e := newEnvFile(t, false, 0x100)
	s := e.store()
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"a": "1"})); err != nil {
		t.Fatal(err)
	}
	before := e.bytes()
	if _, err := s.Apply(t.Context(), Changes{"big": new(strings.Repeat("x", 0x100))}); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Apply of too much = %v, want ErrNoSpace", err)
	}
	if !maps.Equal(map[string]string{"a": "1"}, e.mustPrintenv()) || string(before) != string(e.bytes()) {
		t.Error("a failed Apply changed the environment")
	}
	if err := s.Write(t.Context(), Env{vars: map[string]string{"a=b": "1"}}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Write of a bad name = %v, want ErrInvalidName", err)
	}
}

// TestConcurrentApply runs Apply from many goroutines: each change must
// survive, which needs the store's serialisation.
func TestConcurrentApply(t *testing.T) {
	e := newEnvFile(t, true, 0x1000)
	s := e.store()
	if err := s.Write(t.Context(), Env{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := s.Apply(t.Context(), Changes{fmt.Sprintf("var%02d", i): new("set")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	env, err := s.Read(t.Context())
	if err != nil || env.Len() != 16 {
		t.Errorf("after 16 concurrent Applies: %d variables, %v; want 16", env.Len(), err)
	}
}

// TestBlockDeviceFromEnd uses a loop device, so that negative offsets
// count from the end of a real block device, as in fw_env.config's eMMC
// example, with fw_printenv and fw_setenv on the same device.
func TestBlockDeviceFromEnd(t *testing.T) {
	dev := loopDevice(t, 1<<20)
	e := &envFile{t: t, dev: dev, cfg: filepath.Join(t.TempDir(), "fw_env.config"), size: 0x1000, redundant: true}
	if err := os.WriteFile(e.cfg, fmt.Appendf(nil, "%s -0x2000 0x1000\n%s -0x1000 0x1000\n", dev, dev), 0o600); err != nil {
		t.Fatal(err)
	}
	s := e.store()
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"where": "end"})); err != nil {
		t.Fatal(err)
	}
	if got := e.mustPrintenv(); got["where"] != "end" {
		t.Fatalf("fw_printenv = %v, want where=end", got)
	}
	e.setenv("", "where", "tools")
	if env, err := s.Read(t.Context()); err != nil || env.String() != "where=tools\n" {
		t.Fatalf("Read after fw_setenv = %q, %v", env.String(), err)
	}
	raw := make([]byte, 4)
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(raw, 1<<20-0x2000); err != nil {
		t.Fatal(err)
	}
	if string(raw) == "\x00\x00\x00\x00" {
		t.Error("nothing was written 0x2000 bytes before the end of the device")
	}
}

// loopDevice attaches a file of size bytes to a loop device. That needs
// root; without it the test is skipped, as no package can grant it.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("attaching a loop device needs root")
	}
	losetup := requireTool(t, "losetup", "util-linux")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices in this kernel or container: %v", err)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), losetup, "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("losetup cannot attach a loop device here: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}
