package bootenv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The real peers: libubootenv's tools and U-Boot's mkenvimage.
const (
	pkgLibubootenv = "libubootenv-tool"
	pkgUBootTools  = "u-boot-tools"
)

// requireTool returns the path of a peer program, failing the test with
// the Debian package to install if it is missing.
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (apt-get install %s)", name, pkg, pkg)
	}
	return path
}

// testLockPath returns the lock file to share with fw_printenv and
// fw_setenv: libubootenv's own if this user can create it, else one in a
// temporary directory — the tools then run unlocked, as they do whenever
// they cannot open their lock file.
func testLockPath(t testing.TB) string {
	f, err := os.OpenFile(DefaultLockPath, os.O_WRONLY|os.O_CREATE, 0o666)
	if err == nil {
		f.Close()
		return DefaultLockPath
	}
	t.Logf("cannot use %s (%v); locking a private file instead", DefaultLockPath, err)
	return filepath.Join(t.TempDir(), "fw_printenv.lock")
}

var toolOrder struct {
	once  sync.Once
	order binary.ByteOrder
	err   error
}

// toolByteOrder returns the byte order in which the installed fw_setenv
// writes CRCs: its CPU's, which is not this test's CPU when the test runs
// under qemu-user for another architecture. It finds out by asking it.
func toolByteOrder(t testing.TB) binary.ByteOrder {
	t.Helper()
	setenv := requireTool(t, "fw_setenv", pkgLibubootenv)
	toolOrder.once.Do(func() {
		dir, err := os.MkdirTemp("", "bootenv-probe")
		if err != nil {
			toolOrder.err = err
			return
		}
		defer os.RemoveAll(dir)
		dev, cfg, def := filepath.Join(dir, "env.bin"), filepath.Join(dir, "fw_env.config"), filepath.Join(dir, "default.env")
		for path, data := range map[string][]byte{
			dev: make([]byte, 0x100),
			cfg: []byte(dev + " 0x0 0x100\n"),
			def: []byte("probe=1\n"),
		} {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				toolOrder.err = err
				return
			}
		}
		if out, err := exec.Command(setenv, "-c", cfg, "-f", def, "probe", "2").CombinedOutput(); err != nil {
			toolOrder.err = fmt.Errorf("fw_setenv: %v: %s", err, out)
			return
		}
		img, err := os.ReadFile(dev)
		if err != nil {
			toolOrder.err = err
			return
		}
		sum := crc32.ChecksumIEEE(img[4:])
		switch {
		case binary.LittleEndian.Uint32(img) == sum:
			toolOrder.order = binary.LittleEndian
		case binary.BigEndian.Uint32(img) == sum:
			toolOrder.order = binary.BigEndian
		default:
			toolOrder.err = fmt.Errorf("fw_setenv wrote a CRC that matches neither byte order: % x", img[:4])
		}
	})
	if toolOrder.err != nil {
		t.Fatalf("probe fw_setenv's byte order: %v", toolOrder.err)
	}
	return toolOrder.order
}

// envFile is a file-backed environment that both this package and the C
// tools use, through a fw_env.config in a temporary directory.
type envFile struct {
	t         *testing.T
	dev       string // the file holding the copies
	cfg       string // its fw_env.config
	size      int64  // of each copy
	redundant bool
}

// newEnvFile returns an environment of one or two copies of size bytes,
// in a file that starts out erased (0xFF) like fresh flash.
func newEnvFile(t *testing.T, redundant bool, size int64) *envFile {
	t.Helper()
	dir := t.TempDir()
	e := &envFile{t: t, dev: filepath.Join(dir, "uboot.env"), cfg: filepath.Join(dir, "fw_env.config"), size: size, redundant: redundant}
	copies := int64(1)
	cfg := fmt.Sprintf("# test environment\n%s\t0x0\t%#x\n", e.dev, size)
	if redundant {
		copies = 2
		cfg += fmt.Sprintf("%s\t%#x\t%#x\n", e.dev, size, size)
	}
	if err := os.WriteFile(e.dev, bytes.Repeat([]byte{0xFF}, int(copies*size)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// store returns a Store on the file, locking as the tools lock and with
// their CRC byte order.
func (e *envFile) store() *Store {
	e.t.Helper()
	cfg, err := LoadConfig(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.LockPath = testLockPath(e.t)
	cfg.ByteOrder = toolByteOrder(e.t)
	s, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// printenv returns what fw_printenv prints, or its error output.
func (e *envFile) printenv() (map[string]string, error) {
	e.t.Helper()
	cmd := exec.CommandContext(e.t.Context(), requireTool(e.t, "fw_printenv", pkgLibubootenv), "-c", e.cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return nil, fmt.Errorf("fw_printenv: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	vars := map[string]string{}
	for line := range strings.Lines(string(out)) {
		name, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		vars[name] = value
	}
	return vars, nil
}

// mustPrintenv is printenv failing the test on error.
func (e *envFile) mustPrintenv() map[string]string {
	e.t.Helper()
	vars, err := e.printenv()
	if err != nil {
		e.t.Fatal(err)
	}
	return vars
}

// setenv runs fw_setenv with args, and with a default environment file
// holding defaults if defaults is not empty.
func (e *envFile) setenv(defaults string, args ...string) {
	e.t.Helper()
	base := []string{"-c", e.cfg}
	if defaults != "" {
		def := filepath.Join(e.t.TempDir(), "default.env")
		if err := os.WriteFile(def, []byte(defaults), 0o600); err != nil {
			e.t.Fatal(err)
		}
		base = append(base, "-f", def)
	}
	cmd := exec.CommandContext(e.t.Context(), requireTool(e.t, "fw_setenv", pkgLibubootenv), append(base, args...)...)
	// With a default environment it says "Cannot read environment, using
	// default"; otherwise any output is a problem.
	if out, err := cmd.CombinedOutput(); err != nil || (len(out) > 0 && defaults == "") {
		e.t.Fatalf("fw_setenv %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// bytes returns the file's contents.
func (e *envFile) bytes() []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.dev)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// setBytes replaces the file's contents.
func (e *envFile) setBytes(b []byte) {
	e.t.Helper()
	if err := os.WriteFile(e.dev, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// flags returns the flag bytes of a redundant file's copies.
func (e *envFile) flags() [2]byte {
	b := e.bytes()
	return [2]byte{b[4], b[e.size+4]}
}

// mustEnv returns an Env of vars, failing the test on error.
func mustEnv(t testing.TB, vars map[string]string) Env {
	t.Helper()
	env, err := NewEnv(vars)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
