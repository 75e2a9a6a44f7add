package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MissingBinaryError says which Debian package has a binary the benchmark
// needs.
type MissingBinaryError struct {
	Binary, Package string
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("%s not found on PATH or in /usr/sbin: install Debian's %s package", e.Binary, e.Package)
}

// lookBinary finds a binary on PATH or in /usr/sbin.
func lookBinary(name, pkg string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", &MissingBinaryError{Binary: name, Package: pkg}
}

// mosquitto is a broker the benchmark started: configured the way a
// production broker for Patchbay is (no queue limit that drops QoS 1
// messages, nothing logged per message), on 127.0.0.1.
type mosquitto struct {
	addr string // 127.0.0.1:PORT
	url  string // tcp://127.0.0.1:PORT
	cmd  *exec.Cmd
	log  *syncBuffer // its log: errors, warnings, notices and subscriptions
	done chan error  // Wait's result
}

// startMosquitto starts mosquitto with its configuration in dir, on a free
// port of 127.0.0.1, and returns once it accepts connections. maxInflight
// is its max_inflight_messages, 0 for mosquitto's default. It ends when
// ctx does or stop is called.
func startMosquitto(ctx context.Context, dir string, maxInflight int) (*mosquitto, error) {
	binary, err := lookBinary("mosquitto", "mosquitto")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := filepath.Join(dir, "mosquitto.conf")
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root\n") // as root it would switch to "mosquitto", which cannot read dir
	}
	// max_queued_messages 0 ("no limit") is broken in mosquitto 2.0.x
	// (see testbench/services); a million is no limit here.
	fmt.Fprintf(&b, `log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
persistence false
max_queued_messages 1000000
max_queued_bytes 0
listener %d 127.0.0.1
allow_anonymous true
`, port)
	if maxInflight > 0 {
		fmt.Fprintf(&b, "max_inflight_messages %d\n", maxInflight)
	}
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	m := &mosquitto{addr: addr, url: "tcp://" + addr, log: &syncBuffer{}, done: make(chan error, 1)}
	m.cmd = exec.CommandContext(ctx, binary, "-c", conf)
	m.cmd.SysProcAttr = childAttr()
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.WaitDelay = 5 * time.Second
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	if err := m.waitLog(ctx, " running", 10*time.Second); err != nil {
		m.stop()
		return nil, fmt.Errorf("start mosquitto on %s: %w\nlog:\n%s", addr, err, m.log.String())
	}
	return m, nil
}

// pid is the broker's process id.
func (m *mosquitto) pid() int { return m.cmd.Process.Pid }

// waitLog waits until the broker's log has a line containing s.
func (m *mosquitto) waitLog(ctx context.Context, s string, patience time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	for !strings.Contains(m.log.String(), s) {
		select {
		case err := <-m.done:
			m.done <- err
			return fmt.Errorf("mosquitto exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("no %q in the mosquitto log: %w", s, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// stop kills the broker and waits for it.
func (m *mosquitto) stop() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for a process's
// output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cpuTime returns the CPU time (user and system) process pid used so far,
// from /proc; the second result is false where there is no /proc.
func cpuTime(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, false
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, true
}
