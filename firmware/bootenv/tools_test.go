package bootenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// The tests in this file check this package against libubootenv's
// fw_printenv and fw_setenv and U-Boot's mkenvimage, on file-backed
// environments.

var layouts = []struct {
	name      string
	redundant bool
	size      int64
}{
	{"single", false, 0x1000},
	{"redundant", true, 0x2000},
}

// TestToolsReadOurWrites writes with Store and reads with fw_printenv.
func TestToolsReadOurWrites(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			e := newEnvFile(t, l.redundant, l.size)
			s := e.store()
			initial := map[string]string{
				"bootcmd": "run distro_bootcmd", "bootlimit": "3", "bootcount": "0",
				"upgrade_available": "0", "slot": "a", "empty": "", "name with spaces": "x = y",
			}
			if err := s.Write(t.Context(), mustEnv(t, initial)); err != nil {
				t.Fatal(err)
			}
			if got := e.mustPrintenv(); !maps.Equal(got, initial) {
				t.Fatalf("fw_printenv after Write = %v, want %v", got, initial)
			}
			written, err := s.Apply(t.Context(), Changes{"slot": new("b"), "upgrade_available": new("1"), "bootcmd": nil})
			if err != nil || !written {
				t.Fatalf("Apply = %v, %v, want true, nil", written, err)
			}
			want := maps.Clone(initial)
			want["slot"], want["upgrade_available"] = "b", "1"
			delete(want, "bootcmd")
			if got := e.mustPrintenv(); !maps.Equal(got, want) {
				t.Errorf("fw_printenv after Apply = %v, want %v", got, want)
			}
		})
	}
}

// TestWeReadToolWrites writes with fw_setenv and reads with Store.
func TestWeReadToolWrites(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			e := newEnvFile(t, l.redundant, l.size)
			e.setenv("bootlimit=3\nbootcmd=run x\n", "slot", "a")
			e.setenv("", "bootcount", "2")
			e.setenv("", "bootcmd") // delete
			e.setenv("", "msg", "hello world")
			want := map[string]string{"bootlimit": "3", "slot": "a", "bootcount": "2", "msg": "hello world"}
			if got := e.mustPrintenv(); !maps.Equal(got, want) {
				t.Fatalf("fw_printenv = %v, want %v (the tool disagrees with this test)", got, want)
			}
			env, err := e.store().Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(env.Map(), want) {
				t.Errorf("Read = %v, want %v", env.Map(), want)
			}
		})
	}
}

// TestSameBytesAsTools makes the same changes through fw_setenv on one file
// and through Apply on a copy of it. The files must hold the same bytes
// where bytes mean something: which copy was written, its flag, its
// validity and its entries up to the terminating empty one. libubootenv
// 0.3 pads the rest of the data area with whatever malloc returned (often
// the 0xFF it read from erased flash), so the padding, and with it the
// CRC, cannot be compared; this package pads with NULs.
func TestSameBytesAsTools(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			theirs := newEnvFile(t, l.redundant, l.size)
			theirs.setenv("bootlimit=3\nz=last\nA=upper\n", "bootcount", "0")
			ours := newEnvFile(t, l.redundant, l.size)
			ours.setBytes(theirs.bytes())
			s := ours.store()
			steps := []struct{ name, value string }{
				{"upgrade_available", "1"}, {"bootcount", "1"}, {"slot", "b"}, {"a_b", "x y"}, {"bootcount", "0"}, {"z", ""},
			}
			for i, st := range steps {
				theirs.setenv("", st.name, st.value)
				if _, err := s.Apply(t.Context(), Changes{st.name: new(st.value)}); err != nil {
					t.Fatal(err)
				}
				a, b := meaningful(t, theirs), meaningful(t, ours)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("after step %d (%s=%s):\nfw_setenv wrote %+q\nApply wrote     %+q", i, st.name, st.value, a, b)
				}
			}
		})
	}
}

// meaningful returns, per copy of e, its validity, flag and entries.
func meaningful(t *testing.T, e *envFile) []string {
	t.Helper()
	l := layout{size: int(e.size), redundant: e.redundant, order: toolByteOrder(t)}
	raw := e.bytes()
	var out []string
	for off := 0; off < len(raw); off += l.size {
		img := raw[off : off+l.size]
		_, _, err := decodeCopy(img, l)
		data := img[l.headerSize():]
		end := bytes.Index(data, []byte{0, 0})
		if end < 0 || data[0] == 0 {
			end = -1
		}
		out = append(out, fmt.Sprintf("valid=%v flag=%d entries=%q", err == nil, img[4]*boolByte(l.redundant), data[:end+2]))
	}
	return out
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// TestAlternatingWrites lets fw_setenv and Store take turns for more than
// 256 writes, so that the redundant flag wraps from 255 to 0, and checks
// after every write that both read the same environment and that the
// flags move as libubootenv moves them.
func TestAlternatingWrites(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 40
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvFile(t, l.redundant, l.size)
			s := e.store()
			if err := s.Write(t.Context(), mustEnv(t, map[string]string{"bootcount": "start"})); err != nil {
				t.Fatal(err)
			}
			var prev [2]byte
			if l.redundant {
				prev = e.flags()
			}
			for i := range n {
				// Each side reads what the other wrote.
				value := strconv.Itoa(i)
				want := map[string]string{"bootcount": value}
				if i%2 == 0 {
					if _, err := s.Apply(t.Context(), Changes{"bootcount": &value}); err != nil {
						t.Fatalf("write %d (ours): %v", i, err)
					}
					if theirs := e.mustPrintenv(); !maps.Equal(theirs, want) {
						t.Fatalf("after write %d (ours): fw_printenv %v, want %v", i, theirs, want)
					}
				} else {
					e.setenv("", "bootcount", value)
					ours, err := s.Read(t.Context())
					if err != nil || !maps.Equal(ours.Map(), want) {
						t.Fatalf("after write %d (fw_setenv): Read = %v, %v, want %v", i, ours.Map(), err, want)
					}
				}
				if !l.redundant {
					continue
				}
				// The copy written is the one not in use, with the flag
				// of the one in use plus one.
				flags := e.flags()
				snap, err := s.Load(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				cur := snap.Active
				if flags[1-cur] != prev[1-cur] || flags[cur] != prev[1-cur]+1 {
					t.Fatalf("write %d: flags %v -> %v, active copy %d: want the other copy's flag plus one", i, prev, flags, cur)
				}
				prev = flags
			}
		})
	}
}

// TestMkenvimage reads images made by U-Boot's mkenvimage: unsorted,
// padded with 0xFF or another byte, with a redundant flag, big-endian.
func TestMkenvimage(t *testing.T) {
	mkenvimage := requireTool(t, "mkenvimage", pkgUBootTools)
	input := "# comment\nzeta=last\nbootcmd=run a; run b\n\nalpha=first\n"
	want := map[string]string{"zeta": "last", "bootcmd": "run a; run b", "alpha": "first"}
	tests := []struct {
		name  string
		args  []string
		order binary.ByteOrder
	}{
		{"single", nil, binary.LittleEndian},
		{"zero padding", []string{"-p", "0"}, binary.LittleEndian},
		{"big-endian", []string{"-b"}, binary.BigEndian},
		{"redundant", []string{"-r"}, binary.LittleEndian},
		{"redundant big-endian", []string{"-r", "-b"}, binary.BigEndian},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, img := filepath.Join(dir, "env.txt"), filepath.Join(dir, "env.img")
			if err := os.WriteFile(in, []byte(input), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{}, tt.args...), "-s", "0x800", "-o", img, in)
			if out, err := exec.CommandContext(t.Context(), mkenvimage, args...).CombinedOutput(); err != nil {
				t.Fatalf("mkenvimage %v: %v: %s", args, err, out)
			}
			cfg := Config{Copies: []Location{{Device: img, Size: 0x800}}, ByteOrder: tt.order, DisableLock: true}
			redundant := tt.args != nil && tt.args[0] == "-r"
			if redundant {
				// mkenvimage -r makes one copy; the other is flash
				// nobody wrote yet.
				raw, err := os.ReadFile(img)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(img, append(raw, bytes.Repeat([]byte{0xFF}, 0x800)...), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.Copies = append(cfg.Copies, Location{Device: img, Offset: 0x800, Size: 0x800})
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := s.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(snap.Env.Map(), want) {
				t.Errorf("Read = %v, want %v", snap.Env.Map(), want)
			}
			if redundant {
				if snap.Active != 0 || snap.Copies[0].Flag != 1 {
					t.Errorf("active copy %d with flag %d, want copy 0 with mkenvimage's flag 1", snap.Active, snap.Copies[0].Flag)
				}
				if ce, ok := errors.AsType[*CRCError](snap.Problems()); !ok || !ce.Erased || ce.Offset != 0x800 {
					t.Errorf("Problems() = %v, want an erased *CRCError at 0x800", snap.Problems())
				}
			}
		})
	}
}

// TestCorruptCopyFallback corrupts the newer copy of a redundant
// environment: both this package and fw_printenv must fall back to the
// older one, and the next write must go over the corrupt copy.
func TestCorruptCopyFallback(t *testing.T) {
	e := newEnvFile(t, true, 0x1000)
	s := e.store()
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"v": "old"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(t.Context(), Changes{"v": new("new")}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(t.Context())
	if err != nil || snap.Active != 0 {
		t.Fatalf("Load = active %d, %v; want copy 0 active (the first write went to copy 1)", snap.Active, err)
	}
	raw := e.bytes()
	raw[100] ^= 0x40 // inside copy 0's data area
	e.setBytes(raw)

	snap, err = s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load with one corrupt copy = %v, want the other copy", err)
	}
	if v, _ := snap.Env.Get("v"); v != "old" || snap.Active != 1 {
		t.Errorf("Load = v=%q from copy %d, want v=old from copy 1", v, snap.Active)
	}
	ce, ok := errors.AsType[*CRCError](snap.Problems())
	if !ok || ce.Device != e.dev || ce.Offset != 0 || ce.Erased {
		t.Fatalf("Problems() = %v, want a *CRCError for %s at 0x0", snap.Problems(), e.dev)
	}
	t.Logf("the corrupt copy reads as: %v", ce)
	if got := e.mustPrintenv(); got["v"] != "old" {
		t.Errorf("fw_printenv = %v, want v=old as well", got)
	}

	if _, err := s.Apply(t.Context(), Changes{"v": new("repaired")}); err != nil {
		t.Fatal(err)
	}
	snap, err = s.Load(t.Context())
	if err != nil || snap.Problems() != nil || snap.Active != 0 {
		t.Fatalf("after Apply: active %d, problems %v, err %v; want copy 0 rewritten and both valid", snap.Active, snap.Problems(), err)
	}
	if got := e.mustPrintenv(); got["v"] != "repaired" {
		t.Errorf("fw_printenv after the repair = %v, want v=repaired", got)
	}
}

// TestBothCopiesCorrupt checks the typed error, that Apply refuses and
// that Write starts a new environment the tools can read.
func TestBothCopiesCorrupt(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			e := newEnvFile(t, l.redundant, l.size) // all 0xFF: never written
			s := e.store()
			_, err := s.Read(t.Context())
			nv, ok := errors.AsType[*NoValidCopyError](err)
			if !ok {
				t.Fatalf("Read of erased copies = %v, want *NoValidCopyError", err)
			}
			if want := len(s.Config().Copies); len(nv.Errs) != want || !errors.Is(err, ErrCorrupt) {
				t.Errorf("NoValidCopyError = %v, want %d copy errors wrapping ErrCorrupt", err, want)
			}
			if _, err := s.Apply(t.Context(), Changes{"a": new("1")}); !errors.As(err, &nv) {
				t.Errorf("Apply with no valid copy = %v, want *NoValidCopyError", err)
			}
			if _, err := e.printenv(); err == nil {
				t.Error("fw_printenv read an erased environment")
			}
			if err := s.Write(t.Context(), mustEnv(t, map[string]string{"a": "1"})); err != nil {
				t.Fatal(err)
			}
			if got := e.mustPrintenv(); !maps.Equal(got, map[string]string{"a": "1"}) {
				t.Errorf("fw_printenv after Write = %v, want a=1", got)
			}
		})
	}
}

// TestApplyUnchangedDoesNotWrite checks that flash is not worn for nothing.
func TestApplyUnchangedDoesNotWrite(t *testing.T) {
	e := newEnvFile(t, true, 0x1000)
	s := e.store()
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"bootcount": "0", "upgrade_available": "0"})); err != nil {
		t.Fatal(err)
	}
	before := e.bytes()
	writes := 0
	open := s.open
	s.open = func(ctx context.Context, loc Location, writable bool) (medium, error) {
		if writable {
			writes++
		}
		return open(ctx, loc, writable)
	}
	for _, c := range []Changes{
		{"bootcount": new("0"), "upgrade_available": new("0")},
		{"not_set": nil},
		{},
	} {
		written, err := s.Apply(t.Context(), c)
		if err != nil || written {
			t.Errorf("Apply(%v) = %v, %v, want false, nil", c, written, err)
		}
	}
	if writes != 0 || !bytes.Equal(before, e.bytes()) {
		t.Errorf("unchanged Apply opened %d copies for writing and changed the file", writes)
	}
	if written, err := s.Apply(t.Context(), Changes{"bootcount": new("1")}); err != nil || !written || writes != 1 {
		t.Errorf("changing Apply = %v, %v with %d writable opens, want true, nil, 1", written, err, writes)
	}
}

// TestHexSizesLikeTools checks the fw_env.config quirk both read alike:
// the environment size "1000" is hexadecimal.
func TestHexSizesLikeTools(t *testing.T) {
	e := newEnvFile(t, false, 0x1000)
	if err := e.store().Write(t.Context(), mustEnv(t, map[string]string{"k": "v"})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfg, fmt.Appendf(nil, "%s 0 1000\n", e.dev), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.mustPrintenv(); got["k"] != "v" {
		t.Fatalf("fw_printenv with size 1000 = %v", got)
	}
	if env, err := e.store().Read(t.Context()); err != nil || env.String() != "k=v\n" {
		t.Errorf("Read with size 1000 = %q, %v, want k=v", env.String(), err)
	}
}
