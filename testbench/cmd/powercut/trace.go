package main

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"

	"patchbay.dev/agent/install"
	"patchbay.dev/firmware/bootenv"
)

// The agent process tells the campaign what it does, one event per line
// on an inherited pipe, so that the campaign can cut the power right
// after a chosen event and knows which write was in flight when it did:
//
//	S <how>                          started: install, resume or idle
//	P <state> <written> <length>     a state entered or a checkpoint
//	R <state> <reason>               the final outcome
//	W env <device>                   an environment write begins (the copy it writes)
//	D env                            it ended
//	B                                a reboot was asked for
//
// Fields are separated by tabs.
type event struct {
	kind   string
	fields []string
}

func (e event) field(i int) string {
	if i < len(e.fields) {
		return e.fields[i]
	}
	return ""
}

func (e event) int(i int) int64 {
	n, _ := strconv.ParseInt(e.field(i), 10, 64)
	return n
}

func parseEvent(line string) event {
	parts := strings.Split(strings.TrimRight(line, "\n"), "\t")
	return event{kind: parts[0], fields: parts[1:]}
}

// readEvents sends the events read from r until it ends.
func readEvents(r io.Reader, out chan<- event) {
	defer close(out)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out <- parseEvent(sc.Text())
	}
}

// tracer writes events; a nil tracer writes nothing. Safe for concurrent use.
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *tracer) emit(kind string, fields ...string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// A campaign that stopped reading is not the agent's problem.
	_, _ = io.WriteString(t.w, kind+"\t"+strings.Join(fields, "\t")+"\n")
}

// Progress and Result make the tracer an install.Reporter.
func (t *tracer) Progress(_ context.Context, p install.Progress) error {
	t.emit("P", string(p.State), strconv.FormatInt(p.Written, 10), strconv.FormatInt(p.Length, 10))
	return nil
}

func (t *tracer) Result(_ context.Context, o install.Outcome) error {
	t.emit("R", string(o.State), string(o.Reason))
	return nil
}

// tracedEnv is the device's environment, announcing each write that will
// change something together with the copy it goes to.
type tracedEnv struct {
	store *bootenv.Store
	tr    *tracer
}

func (e tracedEnv) Read(ctx context.Context) (bootenv.Env, error) { return e.store.Read(ctx) }

func (e tracedEnv) Apply(ctx context.Context, c bootenv.Changes) (bool, error) {
	snap, err := e.store.Load(ctx)
	if err == nil && snap.Active >= 0 && changes(snap.Env, c) {
		// Store writes the copy not in use.
		target := snap.Copies[(snap.Active+1)%len(snap.Copies)].Location.Device
		e.tr.emit("W", "env", target)
		defer e.tr.emit("D", "env")
	}
	return e.store.Apply(ctx, c)
}

// changes reports whether c would change env.
func changes(env bootenv.Env, c bootenv.Changes) bool {
	for name, v := range c {
		old, ok := env.Get(name)
		if v == nil && ok || v != nil && (!ok || old != *v) {
			return true
		}
	}
	return false
}
