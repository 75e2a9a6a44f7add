package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
)

var at = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func open(t testing.TB, dir string, maxBytes int64) *Outbox {
	t.Helper()
	o, err := Open(dir, maxBytes, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%s, %d) = %v", dir, maxBytes, err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func reopen(t testing.TB, o *Outbox) *Outbox {
	t.Helper()
	if err := o.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	return open(t, o.dir, o.max)
}

func event(typ string, i int) telemetry.Event {
	return telemetry.Event{Time: at.Add(time.Duration(i) * time.Second), Type: typ, Phase: "downloading", Message: "event " + strconv.Itoa(i)}
}

func appendT(t testing.TB, o *Outbox, ev telemetry.Event) uint64 {
	t.Helper()
	seq, err := o.Append(t.Context(), ev)
	if err != nil {
		t.Fatalf("Append(%s %q) = %v", ev.Type, ev.Message, err)
	}
	return seq
}

func pending(t testing.TB, o *Outbox) []telemetry.Event {
	t.Helper()
	evs, err := o.Pending(0, 1<<20)
	if err != nil {
		t.Fatalf("Pending = %v", err)
	}
	return evs
}

func seqs(evs []telemetry.Event) []uint64 {
	var out []uint64
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

// checkCovered checks that the pending events stand for every sequence
// number after acked up to last, each once: what the gateway needs for its
// contiguous ack.
func checkCovered(t testing.TB, evs []telemetry.Event, acked, last uint64) {
	t.Helper()
	next := acked + 1
	for _, ev := range evs {
		first := ev.Seq
		if ev.Reason == ReasonDropped {
			n, err := strconv.ParseUint(ev.Data[DataFirstSeq], 10, 64)
			if err != nil {
				t.Fatalf("event %d: %s = %q: %v", ev.Seq, DataFirstSeq, ev.Data[DataFirstSeq], err)
			}
			first = n
		}
		if first != next || ev.Seq < first {
			t.Fatalf("event %d stands for %d–%d, want it to start at %d (pending %v)", ev.Seq, first, ev.Seq, next, seqs(evs))
		}
		next = ev.Seq + 1
	}
	if next != last+1 {
		t.Fatalf("pending events end at %d, want %d", next-1, last)
	}
}

func TestAppendPendingAck(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	var want []telemetry.Event
	for i := range 5 {
		ev := event(telemetry.EventResult, i)
		ev.Data = map[string]string{"i": strconv.Itoa(i)}
		seq := appendT(t, o, ev)
		if seq != uint64(i+1) {
			t.Fatalf("Append #%d = seq %d, want %d", i, seq, i+1)
		}
		ev.Seq, ev.Schema = seq, telemetry.SchemaVersion
		want = append(want, ev)
	}
	if diff := cmp.Diff(want, pending(t, o)); diff != "" {
		t.Errorf("Pending (-want +got):\n%s", diff)
	}
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 2, []uint64{1, 2}},
		{3, 10, []uint64{4, 5}},
		{5, 10, nil},
		{0, 0, nil},
	}
	for _, tt := range tests {
		got, err := o.Pending(tt.after, tt.limit)
		if err != nil || !cmp.Equal(seqs(got), tt.want) {
			t.Errorf("Pending(%d, %d) = %v, %v; want %v", tt.after, tt.limit, seqs(got), err, tt.want)
		}
	}
	if err := o.Ack(3); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(2); err != nil { // older acks change nothing
		t.Fatal(err)
	}
	if got := seqs(pending(t, o)); !cmp.Equal(got, []uint64{4, 5}) {
		t.Errorf("Pending after Ack(3) = %v, want [4 5]", got)
	}
	o = reopen(t, o)
	if got, want := o.Stats(), (Stats{LastSeq: 5, Acked: 3, Pending: 2, PendingBytes: o.Stats().PendingBytes, DiskBytes: o.Stats().DiskBytes, Segments: 1}); got != want {
		t.Errorf("Stats after reopen = %+v, want %+v", got, want)
	}
	if diff := cmp.Diff(want[3:], pending(t, o)); diff != "" {
		t.Errorf("Pending after reopen (-want +got):\n%s", diff)
	}
	if seq := appendT(t, o, event(telemetry.EventInfo, 6)); seq != 6 {
		t.Errorf("Append after reopen = %d, want 6", seq)
	}
}

func TestAppendBatch(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	appendT(t, o, event(telemetry.EventInfo, 0))
	first, err := o.AppendBatch(t.Context(), []telemetry.Event{event(telemetry.EventProgress, 1), event(telemetry.EventProgress, 2), event(telemetry.EventResult, 3)})
	if err != nil || first != 2 {
		t.Fatalf("AppendBatch = %d, %v; want 2", first, err)
	}
	if got := seqs(pending(t, o)); !cmp.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("Pending = %v, want [1 2 3 4]", got)
	}
	if _, err := o.AppendBatch(t.Context(), nil); err == nil {
		t.Error("AppendBatch(nil) succeeded, want an error")
	}
}

// TestTornTail cuts the last record at every byte, as a power cut during
// its write would: reopening must work, keep every earlier record and reuse
// the torn record's number (it was never reported durable).
func TestTornTail(t *testing.T) {
	const n = 4
	pristine := t.TempDir()
	o := open(t, pristine, 1<<20)
	for i := range n - 1 {
		appendT(t, o, event(telemetry.EventProgress, i))
	}
	if err := o.Ack(1); err != nil {
		t.Fatal(err)
	}
	want := pending(t, o)
	seg := filepath.Join(pristine, segName(o.active().num))
	before := o.active().size
	appendT(t, o, event(telemetry.EventResult, n))
	after := o.active().size
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(whole)) != after {
		t.Fatalf("segment is %d bytes, want %d", len(whole), after)
	}
	for cut := before; cut < after; cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		o := open(t, dir, 1<<20)
		if diff := cmp.Diff(want, pending(t, o)); diff != "" {
			t.Fatalf("cut at %d: Pending (-want +got):\n%s", cut, diff)
		}
		if got := o.LastSeq(); got != n-1 {
			t.Fatalf("cut at %d: LastSeq = %d, want %d", cut, got, n-1)
		}
		if fi, err := os.Stat(filepath.Join(dir, filepath.Base(seg))); err != nil || fi.Size() != before {
			t.Fatalf("cut at %d: segment after Open = %v, %v; want %d bytes", cut, fi.Size(), err, before)
		}
		if seq := appendT(t, o, event(telemetry.EventResult, n)); seq != n {
			t.Fatalf("cut at %d: Append = %d, want %d", cut, seq, n)
		}
		o = reopen(t, o)
		if got := seqs(pending(t, o)); !cmp.Equal(got, []uint64{2, 3, 4}) {
			t.Fatalf("cut at %d: Pending after append and reopen = %v, want [2 3 4]", cut, got)
		}
		o.Close()
	}
}

// TestGarbageTail appends what a failing flash or file system may leave
// after the last record.
func TestGarbageTail(t *testing.T) {
	tails := map[string][]byte{
		"zeros":       make([]byte, 4096),
		"ones":        []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"short frame": {0, 0, 0, 20, 1, 2, 3, 4, 0xa1},
		"zero length": {0, 0, 0, 0, 0, 0, 0, 0},
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, 1<<20)
			appendT(t, o, event(telemetry.EventResult, 1))
			appendT(t, o, event(telemetry.EventError, 2))
			seg := filepath.Join(dir, segName(o.active().num))
			o.Close()
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tail); err != nil {
				t.Fatal(err)
			}
			f.Close()
			o = open(t, dir, 1<<20)
			if got := seqs(pending(t, o)); !cmp.Equal(got, []uint64{1, 2}) {
				t.Errorf("Pending = %v, want [1 2]", got)
			}
			if seq := appendT(t, o, event(telemetry.EventResult, 3)); seq != 3 {
				t.Errorf("Append = %d, want 3", seq)
			}
		})
	}
}

// TestSeqSurvivesCompaction acknowledges everything, lets segments be
// deleted and compacted, and checks that numbers never go back.
func TestSeqSurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, MinBytes)
	var last uint64
	for round := range 5 {
		for i := range 40 {
			seq := appendT(t, o, event(telemetry.EventResult, i))
			if seq != last+1 {
				t.Fatalf("round %d: Append = %d, want %d", round, seq, last+1)
			}
			last = seq
			if err := o.Ack(seq); err != nil {
				t.Fatal(err)
			}
			if st := o.Stats(); st.DiskBytes > MinBytes+64 {
				t.Fatalf("round %d: %d bytes on disk, bound %d", round, st.DiskBytes, MinBytes)
			}
		}
		o = reopen(t, o)
		if got := o.LastSeq(); got != last {
			t.Fatalf("round %d: LastSeq after reopen = %d, want %d", round, got, last)
		}
		if evs := pending(t, o); len(evs) != 0 {
			t.Fatalf("round %d: Pending after acking all = %v", round, seqs(evs))
		}
	}
	// Compacted empty: only a header remains, and it knows the number.
	if st := o.Stats(); st.Pending != 0 || st.Segments > 2 {
		t.Errorf("Stats = %+v, want nothing pending in at most 2 segments", st)
	}
	for range 200 { // fill with progress so that compaction runs
		last = appendT(t, o, event(telemetry.EventProgress, 0))
	}
	if err := o.Ack(last); err != nil {
		t.Fatal(err)
	}
	o = reopen(t, o)
	if seq := appendT(t, o, event(telemetry.EventInfo, 0)); seq != last+1 {
		t.Errorf("Append after compaction and reopen = %d, want %d", seq, last+1)
	}
}

func TestAckBeyondLastSeq(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	appendT(t, o, event(telemetry.EventResult, 1))
	// The gateway remembers a device whose state directory was lost.
	if err := o.Ack(100); err != nil {
		t.Fatal(err)
	}
	if got := o.LastSeq(); got != 100 {
		t.Errorf("LastSeq = %d, want 100", got)
	}
	o = reopen(t, o)
	if seq := appendT(t, o, event(telemetry.EventResult, 2)); seq != 101 {
		t.Errorf("Append = %d, want 101", seq)
	}
	if got := seqs(pending(t, o)); !cmp.Equal(got, []uint64{101}) {
		t.Errorf("Pending = %v, want [101]", got)
	}
	// A broken gateway cannot use up the numbers.
	if err := o.Ack(1 << 63); err == nil {
		t.Error("Ack(2^63) succeeded, want it refused")
	}
	if got := o.LastSeq(); got != 101 {
		t.Errorf("LastSeq after a refused ack = %d, want 101", got)
	}
}

// TestAckRewritesNothing checks that acks delete whole segments and never
// write a new one.
func TestAckRewritesNothing(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, 64<<10)
	for i := range 300 {
		appendT(t, o, event(telemetry.EventResult, i))
	}
	st := o.Stats()
	if st.Segments < 3 {
		t.Fatalf("Stats = %+v, want several segments", st)
	}
	files := func() []string {
		names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		for i := range names {
			names[i] = filepath.Base(names[i])
		}
		return names
	}
	before := files()
	for seq := uint64(1); seq <= 299; seq++ {
		if err := o.Ack(seq); err != nil {
			t.Fatal(err)
		}
		for _, f := range files() {
			if !slices.Contains(before, f) {
				t.Fatalf("Ack(%d) created %s", seq, f)
			}
		}
	}
	if got := files(); len(got) != 1 || got[0] != before[len(before)-1] {
		t.Errorf("segments after acking all but one = %v, want only %s", got, before[len(before)-1])
	}
	if got := seqs(pending(t, o)); !cmp.Equal(got, []uint64{300}) {
		t.Errorf("Pending = %v, want [300]", got)
	}
}

func TestDropPolicy(t *testing.T) {
	type step struct {
		typ string
		n   int
	}
	tests := []struct {
		name        string
		steps       []step
		wantFull    bool     // the last append fails with ErrFull
		wantKept    []string // types of the non-dropped events kept, oldest first (empty: not checked)
		wantDropped bool
	}{
		{
			name:        "oldest progress dropped, results kept",
			steps:       []step{{telemetry.EventResult, 3}, {telemetry.EventProgress, 60}, {telemetry.EventError, 2}, {telemetry.EventProgress, 60}},
			wantDropped: true,
		},
		{
			name:     "only results: ErrFull",
			steps:    []step{{telemetry.EventResult, 200}},
			wantFull: true,
		},
		{
			name:     "progress cannot push out results",
			steps:    []step{{telemetry.EventResult, 200}, {telemetry.EventProgress, 1}},
			wantFull: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := open(t, t.TempDir(), MinBytes)
			var results []uint64 // sequence numbers that must never go
			var full error
			i := 0
		steps:
			for _, s := range tt.steps {
				for range s.n {
					i++
					seq, err := o.Append(t.Context(), event(s.typ, i))
					if err != nil {
						full = err
						break steps
					}
					if s.typ != telemetry.EventProgress {
						results = append(results, seq)
					}
					if st := o.Stats(); st.DiskBytes > o.max {
						t.Fatalf("after event %d: %d bytes on disk, bound %d", i, st.DiskBytes, o.max)
					}
				}
			}
			if tt.wantFull != errors.Is(full, ErrFull) {
				t.Fatalf("append error = %v, want ErrFull: %v", full, tt.wantFull)
			}
			check := func(o *Outbox) {
				t.Helper()
				evs := pending(t, o)
				checkCovered(t, evs, o.Acked(), o.LastSeq())
				var dropped uint64
				for _, ev := range evs {
					if ev.Reason == ReasonDropped {
						first, _ := strconv.ParseUint(ev.Data[DataFirstSeq], 10, 64)
						dropped += ev.Seq - first + 1
					}
				}
				if got := o.Dropped(); got != dropped || (got > 0) != tt.wantDropped {
					t.Errorf("Dropped = %d; the pending events stand for %d dropped; want some: %v", got, dropped, tt.wantDropped)
				}
				for _, seq := range results {
					if !slices.ContainsFunc(evs, func(ev telemetry.Event) bool { return ev.Seq == seq && ev.Reason != ReasonDropped }) {
						t.Errorf("result event %d is gone", seq)
					}
				}
				// The oldest progress events went first: no kept progress
				// event is older than a dropped one.
				var lastDropped uint64
				for _, ev := range evs {
					if ev.Reason == ReasonDropped {
						lastDropped = ev.Seq
					}
				}
				for _, ev := range evs {
					if ev.Type == telemetry.EventProgress && ev.Seq < lastDropped {
						t.Errorf("progress event %d kept while the newer %d was dropped", ev.Seq, lastDropped)
					}
				}
			}
			check(o)
			o = reopen(t, o)
			check(o)
			if tt.wantFull {
				// An ack makes room again.
				if err := o.Ack(results[len(results)/2]); err != nil {
					t.Fatal(err)
				}
				appendT(t, o, event(telemetry.EventResult, 0))
			}
		})
	}
}

// TestCompactionLeftovers puts back what a power cut between a
// compaction's rename and its removals leaves: the old segments.
func TestCompactionLeftovers(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, MinBytes)
	for i := range 30 {
		appendT(t, o, event(telemetry.EventProgress, i))
	}
	saved := map[string][]byte{}
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		saved[n] = b
	}
	for i := range 60 { // compacts, dropping progress
		appendT(t, o, event(telemetry.EventProgress, 30+i))
	}
	if o.Dropped() == 0 {
		t.Fatal("no progress dropped: the test did not compact")
	}
	want := pending(t, o)
	o.Close()
	for n, b := range saved {
		if err := os.WriteFile(n, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, segName(99)+tmpSuffix), []byte("half a compaction"), 0o600); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, MinBytes)
	if diff := cmp.Diff(want, pending(t, o)); diff != "" {
		t.Errorf("Pending after leftovers (-want +got):\n%s", diff)
	}
	for n := range saved {
		if _, err := os.Stat(n); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s still there: %v", filepath.Base(n), err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, segName(99)+tmpSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unfinished segment still there: %v", err)
	}
}

func TestCorruptHeaderSetAside(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, 64<<10)
	for i := range 200 {
		appendT(t, o, event(telemetry.EventResult, i))
	}
	oldest := filepath.Join(dir, segName(o.segs[0].num))
	last := o.LastSeq()
	o.Close()
	if err := os.WriteFile(oldest, []byte("not a segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, 64<<10)
	if _, err := os.Stat(oldest + badSuffix); err != nil {
		t.Errorf("unreadable segment not set aside: %v", err)
	}
	if got := o.LastSeq(); got != last {
		t.Errorf("LastSeq = %d, want %d", got, last)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, MinBytes)
	if o, err := Open(dir, MinBytes, testLogger(t)); !errors.Is(err, ErrLocked) {
		if o != nil {
			o.Close()
		}
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
}

func TestClosed(t *testing.T) {
	o := open(t, t.TempDir(), MinBytes)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := o.Append(t.Context(), event(telemetry.EventInfo, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := o.Pending(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Pending after Close = %v, want ErrClosed", err)
	}
	if err := o.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
}

func TestReadStats(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, MinBytes)
	for i := range 80 {
		appendT(t, o, event(telemetry.EventProgress, i))
	}
	if err := o.Ack(50); err != nil {
		t.Fatal(err)
	}
	want := o.Stats()
	got, err := ReadStats(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("ReadStats while open = %+v, want %+v", got, want)
	}
	if st, err := ReadStats(filepath.Join(dir, "missing")); err != nil || st != (Stats{}) {
		t.Errorf("ReadStats(missing) = %+v, %v; want zero", st, err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	o := open(t, t.TempDir(), 1<<20)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := o.Append(t.Context(), event(telemetry.EventInfo, w*each+i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() { // a reader and an acker meanwhile
		for i := range 50 {
			if _, err := o.Pending(0, 10); err != nil {
				errs <- err
			}
			if err := o.Ack(min(uint64(i), o.LastSeq())); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := pending(t, o)
	checkCovered(t, evs, o.Acked(), workers*each)
}

// FuzzOpen opens a directory whose segment holds arbitrary bytes, as after
// a power cut or flash damage: Open must not panic, and an outbox that
// opens must append and reopen with its numbers going forward.
func FuzzOpen(f *testing.F) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	seg := segmentBytes(f,
		telemetry.Event{Seq: 1, Time: at, Type: telemetry.EventProgress},
		telemetry.Event{Seq: 3, Time: at, Type: telemetry.EventResult},
	)
	f.Add(seg)
	f.Add(seg[:len(seg)-1])
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(dir, MinBytes, slog.New(slog.DiscardHandler))
		if err != nil {
			return
		}
		defer o.Close()
		last := o.LastSeq()
		seq, err := o.Append(t.Context(), telemetry.Event{Time: at, Type: telemetry.EventResult})
		if err != nil {
			if errors.Is(err, ErrFull) {
				return
			}
			t.Fatalf("Append = %v", err)
		}
		if seq != last+1 {
			t.Fatalf("Append = %d after LastSeq %d", seq, last)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		o, err = Open(dir, MinBytes, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("reopen = %v", err)
		}
		defer o.Close()
		if got := o.LastSeq(); got != seq {
			t.Fatalf("LastSeq after reopen = %d, want %d", got, seq)
		}
	})
}

func benchmarkAppend(b *testing.B, batch int) {
	o, err := Open(b.TempDir(), 1<<20, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	evs := make([]telemetry.Event, batch)
	for i := range evs {
		evs[i] = telemetry.Event{Time: at, Type: telemetry.EventProgress, Phase: "downloading", Target: "openwrt-23.05.3-ath79-generic.bin", Done: 1 << 20, Total: 8 << 20}
	}
	var n int
	for b.Loop() {
		last, err := o.AppendBatch(b.Context(), evs)
		if err != nil {
			b.Fatal(err)
		}
		if n += batch; n%512 < batch {
			if err := o.Ack(last); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppend measures appends with an fsync each, one event or a
// batch of 16 per fsync.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchmarkAppend(b, batch) })
	}
}

// BenchmarkAppendParallel measures concurrent appends, which share fsyncs.
func BenchmarkAppendParallel(b *testing.B) {
	o, err := Open(b.TempDir(), 1<<20, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	ev := telemetry.Event{Time: at, Type: telemetry.EventProgress, Phase: "downloading", Done: 1 << 20, Total: 8 << 20}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			seq, err := o.Append(b.Context(), ev)
			if err != nil {
				b.Error(err)
				return
			}
			if seq%256 == 0 {
				if err := o.Ack(seq); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
