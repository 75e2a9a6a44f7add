package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// timeline prints the demo's lines in the order things happened. Lines
// come from the demo itself (a reboot, a health probe) and from the
// gateway's API (the agents' events, stamped by the agent, which may reach
// the gateway only after the reboot that followed them: the outbox sends
// them when the agent is back). While the devices run, lines are held
// back for a moment and printed sorted by when they happened. Safe for
// concurrent use.
type timeline struct {
	mu      sync.Mutex
	out     io.Writer
	start   time.Time
	hold    time.Duration // 0: print at once
	pending []line
	n       int // lines added, to keep the order of equal times
}

type line struct {
	at   time.Time
	n    int
	who  string
	text string
}

// add prints a line, or holds it back while lines are being ordered.
func (t *timeline) add(at time.Time, who, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	l := line{at: at, n: t.n, who: who, text: text}
	if t.hold == 0 {
		t.write(l)
		return
	}
	t.pending = append(t.pending, l)
}

// order starts holding lines back for hold, so that lines that arrive
// late are still printed in order.
func (t *timeline) order(hold time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hold = hold
}

// tick prints the lines held back for long enough.
func (t *timeline) tick(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flush(now.Add(-t.hold))
}

// drain prints every line held back and stops holding lines back.
func (t *timeline) drain() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flush(time.Time{})
	t.hold = 0
}

// flush prints the pending lines from before until, or all if until is
// zero, in time order.
func (t *timeline) flush(until time.Time) {
	slices.SortFunc(t.pending, func(a, b line) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.n, b.n)) })
	i := 0
	for ; i < len(t.pending); i++ {
		if !until.IsZero() && t.pending[i].at.After(until) {
			break
		}
		t.write(t.pending[i])
	}
	t.pending = slices.Delete(t.pending, 0, i)
}

func (t *timeline) write(l line) {
	fmt.Fprintf(t.out, "[%5.1fs] %-9s %s\n", max(0, l.at.Sub(t.start).Seconds()), l.who, l.text)
}

// text prints text as it is, after the lines held back.
func (t *timeline) text(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flush(time.Time{})
	io.WriteString(t.out, s)
}
