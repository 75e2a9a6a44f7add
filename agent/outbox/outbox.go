package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"patchbay.dev/firmware/telemetry"
)

// MinBytes is the smallest bound Open accepts.
const MinBytes = 4 << 10

// maxSeq is the highest sequence number the outbox gives or accepts in an
// ack: far beyond any device's life, and far enough below 2^64 that a
// broken ack cannot use up the numbers.
const maxSeq = 1 << 62

var (
	// ErrFull is returned by Append when the events waiting for the
	// gateway's ack fill the bound and none of them may be dropped. It is
	// temporary: an ack makes room.
	ErrFull = errors.New("outbox full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("outbox closed")
	// ErrLocked is returned by Open when another process has the directory
	// open.
	ErrLocked = errors.New("outbox in use by another process")
)

// Outbox is an open outbox directory.
type Outbox struct {
	dir         string
	max         int64
	rotateBytes int64
	log         *slog.Logger
	lock        *os.File

	// syncMu lets one appender at a time fsync, for everyone who wrote
	// before it started (group commit). Taken before mu, never inside it.
	syncMu sync.Mutex

	mu        sync.Mutex
	segs      []*segment // oldest first; the last one is appended to
	entries   []entry    // live events, ascending by seq
	liveBytes int64      // framed bytes of entries
	disk      int64      // bytes of all segments
	lastSeq   uint64     // highest sequence number ever used
	acked     uint64     // highest sequence number the gateway stored
	dropped   uint64     // progress events dropped, ever
	durable   uint64     // events up to this one are on stable storage
	err       error      // sticky: the segment may have lost writes
	closed    bool

	tally tally // while loading
}

// entry is one live event: where its record lies.
type entry struct {
	seq      uint64
	seg      *segment
	off      int64
	size     int64
	progress bool
}

// Stats are an outbox's counters.
type Stats struct {
	LastSeq      uint64 `json:"last_seq"`      // highest sequence number used
	Acked        uint64 `json:"acked"`         // highest the gateway acknowledged
	Pending      int    `json:"pending"`       // events waiting for an ack
	PendingBytes int64  `json:"pending_bytes"` // their bytes on disk
	Dropped      uint64 `json:"dropped"`       // progress events dropped when full
	DiskBytes    int64  `json:"disk_bytes"`    // bytes of all segment files
	Segments     int    `json:"segments"`
}

// Open opens the outbox in dir, creating it if needed, holding at most
// maxBytes of segment files. It truncates a torn record at the end of the
// newest segment and removes what a compaction left over.
func Open(dir string, maxBytes int64, logger *slog.Logger) (*Outbox, error) {
	if maxBytes < MinBytes {
		return nil, fmt.Errorf("open outbox %s: bound of %d bytes is below the minimum of %d", dir, maxBytes, MinBytes)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	o := &Outbox{
		dir:         dir,
		max:         maxBytes,
		rotateBytes: max(maxBytes/8, 1<<10),
		log:         logger,
		lock:        lock,
	}
	if err := o.load(); err != nil {
		o.closeFiles()
		return nil, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	o.log.Debug("outbox opened", "dir", dir, "last_seq", o.lastSeq, "acked", o.acked, "pending", len(o.entries), "dropped", o.dropped, "disk_bytes", o.disk)
	return o, nil
}

// load reads the segments and rebuilds the index.
func (o *Outbox) load() error {
	leftovers, err := filepath.Glob(filepath.Join(o.dir, "*"+segSuffix+tmpSuffix))
	if err != nil {
		return err
	}
	for _, p := range leftovers {
		o.log.Info("outbox unfinished segment removed", "file", filepath.Base(p))
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove unfinished segment: %w", err)
		}
	}
	nums, err := listSegments(o.dir)
	if err != nil {
		return err
	}
	var highest uint64 // highest segment number seen, readable or not
	if len(nums) > 0 {
		highest = nums[len(nums)-1]
	}
	// The newest readable header says which older files still belong.
	for len(nums) > 0 {
		newest := nums[len(nums)-1]
		h, err := readHeader(filepath.Join(o.dir, segName(newest)))
		if err == nil {
			kept := nums[:0]
			for _, n := range nums {
				if n >= h.Oldest {
					kept = append(kept, n)
					continue
				}
				o.log.Info("outbox compacted segment removed", "segment", segName(n))
				if err := os.Remove(filepath.Join(o.dir, segName(n))); err != nil {
					return fmt.Errorf("remove compacted segment: %w", err)
				}
			}
			nums = kept
			break
		}
		if !errors.Is(err, errBadHeader) {
			return err
		}
		if err := o.setAside(newest, err); err != nil {
			return err
		}
		nums = nums[:len(nums)-1]
	}
	for i, n := range nums {
		if err := o.loadSegment(n, i == len(nums)-1); err != nil {
			return err
		}
	}
	if len(o.segs) == 0 {
		// A new outbox, or one that lost every segment to corruption:
		// start after the highest number ever seen so no name is reused.
		f, size, err := createSegment(o.dir, highest+1, record{Kind: kindSegment, Format: format, Oldest: highest + 1}, nil)
		if err != nil {
			return err
		}
		o.segs = append(o.segs, &segment{num: highest + 1, f: f, size: size})
		o.disk += size
	}
	o.lastSeq, o.acked, o.dropped = o.tally.lastSeq, o.tally.acked, o.tally.dropped
	o.forget(o.acked)
	if err := o.active().f.Sync(); err != nil {
		return fmt.Errorf("sync segment %s: %w", segName(o.active().num), err)
	}
	o.durable = o.lastSeq
	o.deleteDeadPrefix()
	return nil
}

// loadSegment scans segment n and adds it to the log. The newest one is
// opened for appending and loses a torn tail.
func (o *Outbox) loadSegment(n uint64, newest bool) error {
	name := segName(n)
	path := filepath.Join(o.dir, name)
	flag := os.O_RDONLY
	if newest {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	s, err := scanSegment(f, name, o.log)
	if err != nil {
		f.Close()
		if newest || !errors.Is(err, errBadHeader) {
			return err
		}
		return o.setAside(n, err)
	}
	size := s.good
	if s.tail != nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("stat segment %s: %w", name, err)
		}
		if newest {
			o.log.Warn("outbox torn tail truncated", "segment", name, "offset", s.good, "bytes", fi.Size()-s.good, "reason", s.tail)
			if err := f.Truncate(s.good); err != nil {
				f.Close()
				return fmt.Errorf("truncate torn tail of segment %s: %w", name, err)
			}
		} else {
			// Older segments were fsync'd whole before the next began:
			// this is damage, not a power cut. Keep what is readable.
			o.log.Error("outbox segment damaged; records after the offset are lost", "segment", name, "offset", s.good, "reason", s.tail)
			size = fi.Size()
		}
	}
	seg := &segment{num: n, f: f, size: size}
	o.segs = append(o.segs, seg)
	o.disk += size
	for _, e := range o.tally.add(s, name, o.log) {
		o.entries = append(o.entries, entry{seq: e.seq, seg: seg, off: e.off, size: e.size, progress: e.progress})
		o.liveBytes += e.size
		seg.live++
	}
	return nil
}

// setAside renames an unreadable segment so it is kept for inspection but
// no longer read.
func (o *Outbox) setAside(n uint64, reason error) error {
	name := segName(n)
	o.log.Error("outbox segment unreadable; set aside", "segment", name, "file", name+badSuffix, "err", reason)
	if err := os.Rename(filepath.Join(o.dir, name), filepath.Join(o.dir, name+badSuffix)); err != nil {
		return fmt.Errorf("set aside unreadable segment: %w", err)
	}
	return nil
}

func (o *Outbox) active() *segment { return o.segs[len(o.segs)-1] }

// Append stores ev with the next sequence number, which it returns, once
// the event is on stable storage. A zero Time is set to now. It returns an
// error wrapping ErrFull when the bound leaves no room.
func (o *Outbox) Append(ctx context.Context, ev telemetry.Event) (uint64, error) {
	return o.AppendBatch(ctx, []telemetry.Event{ev})
}

// AppendBatch stores events with consecutive sequence numbers and one
// fsync, all or none, and returns the first number.
func (o *Outbox) AppendBatch(ctx context.Context, evs []telemetry.Event) (uint64, error) {
	if len(evs) == 0 {
		return 0, errors.New("append to outbox: no events")
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("append to outbox: %w", err)
	}
	o.mu.Lock()
	first, last, err := o.appendLocked(evs, time.Now())
	o.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("append to outbox: %w", err)
	}
	if err := o.syncTo(last); err != nil {
		return 0, fmt.Errorf("append to outbox: %w", err)
	}
	return first, nil
}

func (o *Outbox) appendLocked(evs []telemetry.Event, now time.Time) (first, last uint64, err error) {
	if o.closed {
		return 0, 0, ErrClosed
	}
	if o.err != nil {
		return 0, 0, o.err
	}
	if o.lastSeq > maxSeq-uint64(len(evs)) {
		return 0, 0, fmt.Errorf("sequence numbers exhausted at %d", o.lastSeq)
	}
	var buf []byte
	sizes := make([]int64, len(evs))
	seq := o.lastSeq
	for i := range evs {
		ev := evs[i]
		seq++
		ev.Seq = seq
		if ev.Time.IsZero() {
			ev.Time = now
		}
		b, err := frameEvent(&ev)
		if err != nil {
			return 0, 0, err
		}
		sizes[i] = int64(len(b))
		buf = append(buf, b...)
	}
	n := int64(len(buf))
	if n > o.max-maxHeaderBytes {
		return 0, 0, fmt.Errorf("%d bytes of events can never fit the %d-byte bound", n, o.max)
	}
	if err := o.makeRoom(n, now); err != nil {
		return 0, 0, err
	}
	a := o.active()
	off := a.size
	if _, err := a.f.WriteAt(buf, off); err != nil {
		if terr := a.f.Truncate(off); terr != nil {
			o.err = fmt.Errorf("segment %s may hold a partial record (%v); reopen the outbox", segName(a.num), terr)
		}
		return 0, 0, fmt.Errorf("write segment %s: %w", segName(a.num), err)
	}
	a.size += n
	o.disk += n
	first = o.lastSeq + 1
	for i := range evs {
		o.entries = append(o.entries, entry{seq: first + uint64(i), seg: a, off: off, size: sizes[i], progress: evs[i].Type == telemetry.EventProgress})
		off += sizes[i]
		a.live++
		o.liveBytes += sizes[i]
	}
	o.lastSeq = seq
	return first, seq, nil
}

// syncTo returns once the events up to seq are on stable storage. Callers
// that wait for each other share one fsync.
func (o *Outbox) syncTo(seq uint64) error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	if o.durable >= seq {
		o.mu.Unlock()
		return nil
	}
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	a, upTo := o.active(), o.lastSeq
	o.mu.Unlock()
	err := a.f.Sync()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.durable >= seq {
		return nil // a rotation or compaction synced it meanwhile
	}
	if err != nil {
		// After a failed fsync the kernel may have dropped the pages:
		// no later fsync can vouch for them.
		o.err = fmt.Errorf("sync segment %s: %w; reopen the outbox", segName(a.num), err)
		return o.err
	}
	o.durable = max(o.durable, upTo)
	return nil
}

// Pending returns up to limit events with a sequence number above after
// that the gateway has not acknowledged, oldest first. Events are returned
// once they are on stable storage, never before.
func (o *Outbox) Pending(after uint64, limit int) ([]telemetry.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	i := sort.Search(len(o.entries), func(i int) bool { return o.entries[i].seq > after })
	var out []telemetry.Event
	var buf []byte
	for ; i < len(o.entries) && len(out) < limit; i++ {
		e := o.entries[i]
		if e.seq > o.durable {
			break // written, not yet fsync'd: not to be sent before it is
		}
		ev, err := readEvent(e, &buf)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// readEvent reads the record of e back from its segment.
func readEvent(e entry, buf *[]byte) (telemetry.Event, error) {
	if int64(cap(*buf)) < e.size {
		*buf = make([]byte, e.size)
	}
	b := (*buf)[:e.size]
	if _, err := e.seg.f.ReadAt(b, e.off); err != nil {
		return telemetry.Event{}, fmt.Errorf("read event %d from segment %s: %w", e.seq, segName(e.seg.num), err)
	}
	payload, err := unframe(b)
	if err != nil {
		return telemetry.Event{}, fmt.Errorf("read event %d from segment %s: %w", e.seq, segName(e.seg.num), err)
	}
	r, err := decodeRecord(payload)
	if err != nil {
		return telemetry.Event{}, fmt.Errorf("read event %d from segment %s: %w", e.seq, segName(e.seg.num), err)
	}
	ev, err := decodeEvent(r)
	if err != nil {
		return telemetry.Event{}, fmt.Errorf("read event %d from segment %s: %w", e.seq, segName(e.seg.num), err)
	}
	return ev, nil
}

// Ack records that the gateway stored every event up to seq: they leave
// the outbox. Segments left with no live event are deleted. An ack beyond
// the last sequence number raises it (see the package documentation).
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if seq <= o.acked {
		return nil
	}
	if seq > maxSeq {
		return fmt.Errorf("ack %d: no device gets that far; refused", seq)
	}
	raised := seq > o.lastSeq
	if raised {
		o.log.Warn("outbox ack beyond the last sequence number; raising it", "seq", seq, "last_seq", o.lastSeq)
		o.lastSeq = seq
	}
	o.acked = seq
	o.forget(seq)
	defer o.deleteDeadPrefix()
	if o.err != nil {
		return fmt.Errorf("record ack %d: %w", seq, o.err)
	}
	b, err := frame(record{Kind: kindAck, Seq: seq})
	if err != nil {
		return fmt.Errorf("record ack %d: %w", seq, err)
	}
	a := o.active()
	if _, err := a.f.WriteAt(b, a.size); err != nil {
		if terr := a.f.Truncate(a.size); terr != nil {
			o.err = fmt.Errorf("segment %s may hold a partial record (%v); reopen the outbox", segName(a.num), terr)
		}
		return fmt.Errorf("record ack %d in segment %s: %w", seq, segName(a.num), err)
	}
	a.size += int64(len(b))
	o.disk += int64(len(b))
	if raised {
		// Unlike other acks this one must not be lost: it alone says
		// which numbers are used.
		if err := a.f.Sync(); err != nil {
			o.err = fmt.Errorf("sync segment %s: %w; reopen the outbox", segName(a.num), err)
			return fmt.Errorf("record ack %d: %w", seq, o.err)
		}
		o.durable = max(o.durable, seq)
	}
	return nil
}

// forget removes the entries up to seq from the index.
func (o *Outbox) forget(seq uint64) {
	i := sort.Search(len(o.entries), func(i int) bool { return o.entries[i].seq > seq })
	for _, e := range o.entries[:i] {
		e.seg.live--
		o.liveBytes -= e.size
	}
	o.entries = o.entries[i:]
	if cap(o.entries) > 64 && cap(o.entries) > 4*len(o.entries) {
		o.entries = slices.Clone(o.entries)
	}
}

// deleteDeadPrefix deletes the oldest segments while none of their events
// is live. The newest segment stays: it is appended to.
func (o *Outbox) deleteDeadPrefix() {
	for len(o.segs) > 1 && o.segs[0].live == 0 {
		s := o.segs[0]
		s.f.Close()
		if err := os.Remove(filepath.Join(o.dir, segName(s.num))); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Left behind it costs room but no correctness: its events
			// are acknowledged, and Open removes it via the next header.
			o.log.Warn("outbox segment not removed", "segment", segName(s.num), "err", err)
		}
		o.disk -= s.size
		o.segs[0] = nil
		o.segs = o.segs[1:]
		o.log.Debug("outbox segment removed", "segment", segName(s.num))
	}
}

// LastSeq returns the highest sequence number used.
func (o *Outbox) LastSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lastSeq
}

// Acked returns the highest sequence number the gateway acknowledged.
func (o *Outbox) Acked() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked
}

// Dropped returns how many progress events were dropped, ever.
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Stats returns the outbox's counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{
		LastSeq:      o.lastSeq,
		Acked:        o.acked,
		Pending:      len(o.entries),
		PendingBytes: o.liveBytes,
		Dropped:      o.dropped,
		DiskBytes:    o.disk,
		Segments:     len(o.segs),
	}
}

// Close writes what is buffered to stable storage and closes the files.
// Closing twice does nothing.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var err error
	if o.err == nil && len(o.segs) > 0 {
		if serr := o.active().f.Sync(); serr != nil {
			err = fmt.Errorf("close outbox: sync segment %s: %w", segName(o.active().num), serr)
		}
	}
	o.closeFiles()
	return err
}

func (o *Outbox) closeFiles() {
	for _, s := range o.segs {
		s.f.Close()
	}
	o.segs = nil
	o.entries = nil
	if o.lock != nil {
		o.lock.Close() // releases the flock
		o.lock = nil
	}
}
