package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// stopGrace is how long a child may take to stop after SIGINT before it
// is killed.
const stopGrace = 10 * time.Second

// procs starts the demo's long-running children and remembers every
// process it started, so that the end of the demo can stop them by PID and
// a test can check that none is left. Safe for concurrent use.
type procs struct {
	mu   sync.Mutex
	pids []int
}

// child is one running process whose output goes to a log file.
type child struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result, valid after done
}

// start runs argv with stdout and stderr appended to logPath. A goroutine
// waits for the process; it ends when the process does, which stop makes
// sure of.
func (p *procs) start(name, logPath string, argv []string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.mu.Lock()
	p.pids = append(p.pids, cmd.Process.Pid)
	p.mu.Unlock()
	c := &child{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// run runs argv to its end with its output appended to logPath; ctx ending
// interrupts it.
func (p *procs) run(ctx context.Context, name, logPath string, argv []string) error {
	c, err := p.start(name, logPath, argv)
	if err != nil {
		return err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		if err := c.stop(); err != nil {
			return err
		}
		return ctx.Err()
	}
	if c.err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), c.err, tail(logPath, 2<<10))
	}
	return nil
}

// PIDs returns every process started so far.
func (p *procs) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.pids...)
}

// pid is the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exitCode is the child's exit status once it has exited; -1 if a signal
// ended it.
func (c *child) exitCode() int { return c.cmd.ProcessState.ExitCode() }

// stop sends SIGINT to the child by its PID, waits up to stopGrace for it
// to exit, then kills it; it returns once the child has been reaped. A
// child that had exited already is not an error.
func (c *child) stop() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", c.name, c.pid(), err)
	}
	<-c.done
	return fmt.Errorf("%s (pid %d) ignored SIGINT for %s and was killed", c.name, c.pid(), stopGrace)
}

// tail returns up to max bytes from the end of the file at path, for error
// messages.
func tail(path string, max int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > max {
		b = append([]byte("…"), b[len(b)-max:]...)
	}
	return strings.TrimSpace(string(b))
}
