package outbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"strconv"
	"time"

	"patchbay.dev/firmware/telemetry"
)

// ReasonDropped is the Reason of the info event that stands for a run of
// progress events the outbox dropped when full. It takes the sequence
// number of the run's last event; Data[DataFirstSeq] holds the run's first
// (decimal). The gateway counts every number from first to Seq as stored,
// so its highest contiguous ack moves past the run.
const ReasonDropped = telemetry.ReasonEventsDropped

// DataFirstSeq is the Data key of a ReasonDropped event naming the first
// sequence number it stands for.
const DataFirstSeq = telemetry.DataFirstSeq

// makeRoom makes room in the newest segment for n more bytes: it starts a
// new segment when the newest is big enough and there is room for one, and
// rewrites the live events when the bound would be passed. Called with
// o.mu held.
func (o *Outbox) makeRoom(n int64, now time.Time) error {
	if o.active().size >= o.rotateBytes && o.disk+maxHeaderBytes+n <= o.max {
		return o.rotate()
	}
	if o.disk+n <= o.max {
		return nil
	}
	p := o.planDrops(maxHeaderBytes+o.liveBytes+n, o.max-o.max/4, now)
	if p.bytes > o.max {
		return fmt.Errorf("%w: %d bytes of events wait for the gateway's ack (%d events, none of them progress to drop) and %d more do not fit the %d-byte bound",
			ErrFull, o.liveBytes, len(o.entries), n, o.max)
	}
	return o.compact(p)
}

// rotate starts a new segment after syncing the newest.
func (o *Outbox) rotate() error {
	a := o.active()
	if err := a.f.Sync(); err != nil {
		o.err = fmt.Errorf("sync segment %s: %w; reopen the outbox", segName(a.num), err)
		return o.err
	}
	o.durable = o.lastSeq
	num := a.num + 1
	h := record{Kind: kindSegment, Format: format, Oldest: o.segs[0].num, LastSeq: o.lastSeq, Acked: o.acked, Dropped: o.dropped}
	f, size, err := createSegment(o.dir, num, h, nil)
	if err != nil {
		return err
	}
	o.segs = append(o.segs, &segment{num: num, f: f, size: size})
	o.disk += size
	o.deleteDeadPrefix()
	o.log.Debug("outbox segment started", "segment", segName(num))
	return nil
}

// dropPlan is which progress events a compaction drops: runs of adjacent
// entries, each replaced by one ReasonDropped event.
type dropPlan struct {
	runs    []dropRun
	dropped uint64 // events in the runs
	bytes   int64  // size of the segment the compaction writes
}

type dropRun struct {
	first, last int    // indexes into entries
	tomb        []byte // the framed event standing for the run
}

// planDrops picks the oldest progress events to drop until a compaction
// holding total bytes shrinks to target. The plan's bytes may stay above
// target, and above the bound, when too few progress events are left.
func (o *Outbox) planDrops(total, target int64, now time.Time) dropPlan {
	p := dropPlan{bytes: total}
	for i, e := range o.entries {
		if p.bytes <= target {
			break
		}
		if !e.progress {
			continue
		}
		if k := len(p.runs) - 1; k >= 0 && p.runs[k].last == i-1 {
			p.bytes -= int64(len(p.runs[k].tomb))
			p.runs[k].last = i
		} else {
			p.runs = append(p.runs, dropRun{first: i, last: i})
		}
		r := &p.runs[len(p.runs)-1]
		r.tomb = tombstone(o.entries[r.first].seq, o.entries[r.last].seq, now)
		p.bytes += int64(len(r.tomb)) - e.size
		p.dropped++
	}
	return p
}

// tombstone frames the event that stands for the dropped events first to
// last.
func tombstone(first, last uint64, now time.Time) []byte {
	ev := telemetry.Event{
		Seq:     last,
		Time:    now,
		Type:    telemetry.EventInfo,
		Reason:  ReasonDropped,
		Message: fmt.Sprintf("outbox full: %d progress events dropped", last-first+1),
		Data:    map[string]string{DataFirstSeq: strconv.FormatUint(first, 10)},
	}
	b, err := frameEvent(&ev)
	if err != nil {
		panic(err) // a fixed small document: a failure is a programming error
	}
	return b
}

// compact writes the live events, less the plan's drops, into one new
// segment and deletes the others.
func (o *Outbox) compact(p dropPlan) error {
	num := o.active().num + 1
	h := record{Kind: kindSegment, Format: format, Oldest: num, LastSeq: o.lastSeq, Acked: o.acked, Dropped: o.dropped + p.dropped}
	hb, err := frame(h)
	if err != nil {
		return err
	}
	kept := make([]entry, 0, len(o.entries)-int(p.dropped)+len(p.runs))
	var buf []byte
	copyLive := func(w *bufio.Writer) error {
		off := int64(len(hb))
		runs := p.runs
		for i, e := range o.entries {
			if len(runs) > 0 && i >= runs[0].first {
				if i == runs[0].last {
					if _, err := w.Write(runs[0].tomb); err != nil {
						return err
					}
					kept = append(kept, entry{seq: e.seq, off: off, size: int64(len(runs[0].tomb))})
					off += int64(len(runs[0].tomb))
					runs = runs[1:]
				}
				continue
			}
			if int64(cap(buf)) < e.size {
				buf = make([]byte, e.size)
			}
			b := buf[:e.size]
			if _, err := e.seg.f.ReadAt(b, e.off); err != nil {
				return fmt.Errorf("read event %d from segment %s: %w", e.seq, segName(e.seg.num), err)
			}
			if _, err := unframe(b); err != nil {
				return fmt.Errorf("read event %d from segment %s: %w", e.seq, segName(e.seg.num), err)
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			kept = append(kept, entry{seq: e.seq, off: off, size: e.size, progress: e.progress})
			off += e.size
		}
		return nil
	}
	f, size, err := createSegment(o.dir, num, h, copyLive)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	// The new segment and its header are durable: the old ones are
	// leftovers from here on, which Open would remove too.
	old := o.segs
	seg := &segment{num: num, f: f, size: size, live: len(kept)}
	var live int64
	for i := range kept {
		kept[i].seg = seg
		live += kept[i].size
	}
	o.segs = []*segment{seg}
	o.entries = kept
	o.liveBytes = live
	o.disk = size
	o.dropped += p.dropped
	o.durable = o.lastSeq
	var rmErr error
	for _, s := range old {
		s.f.Close()
		if err := os.Remove(filepath.Join(o.dir, segName(s.num))); err != nil && !errors.Is(err, os.ErrNotExist) {
			rmErr = errors.Join(rmErr, err)
		}
	}
	if rmErr != nil {
		o.log.Warn("outbox compacted segments not removed", "err", rmErr)
	} else if err := atomicfile.SyncDir(o.dir); err != nil {
		o.log.Warn("outbox removal of compacted segments not synced", "err", err)
	}
	o.log.Info("outbox compacted", "segment", segName(num), "bytes", size, "events", len(kept), "dropped", p.dropped, "dropped_total", o.dropped)
	return nil
}
