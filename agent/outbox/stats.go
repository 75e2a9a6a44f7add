package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// tally folds in the segments of a log, oldest first.
type tally struct {
	lastSeq   uint64 // highest sequence number used
	acked     uint64
	dropped   uint64
	lastEvent uint64 // highest event sequence number taken so far
}

// add folds in one segment and returns its events that are in sequence.
func (t *tally) add(s segScan, name string, log *slog.Logger) []scannedEvent {
	h := s.header
	t.lastSeq = max(t.lastSeq, h.LastSeq, s.ack)
	t.acked = max(t.acked, h.Acked, s.ack)
	t.dropped = max(t.dropped, h.Dropped)
	in := s.events[:0:0]
	for _, e := range s.events {
		if e.seq <= t.lastEvent {
			log.Warn("outbox event out of sequence skipped", "segment", name, "offset", e.off, "seq", e.seq, "after", t.lastEvent)
			continue
		}
		t.lastEvent = e.seq
		t.lastSeq = max(t.lastSeq, e.seq)
		in = append(in, e)
	}
	t.lastSeq = max(t.lastSeq, t.acked)
	return in
}

// ReadStats reads the counters of the outbox in dir without opening it: it
// takes no lock and changes nothing, so it may run while the agent has the
// outbox open (a segment the agent compacts away meanwhile can make the
// numbers a moment old). A directory without segments has zero counters.
func ReadStats(dir string) (Stats, error) {
	nums, err := listSegments(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Stats{}, nil
		}
		return Stats{}, err
	}
	log := slog.New(slog.DiscardHandler)
	for len(nums) > 0 {
		h, err := readHeader(filepath.Join(dir, segName(nums[len(nums)-1])))
		if err == nil {
			for len(nums) > 0 && nums[0] < h.Oldest {
				nums = nums[1:]
			}
			break
		}
		nums = nums[:len(nums)-1]
	}
	var (
		t      tally
		st     Stats
		events []scannedEvent
	)
	for _, n := range nums {
		s, size, err := scanFile(filepath.Join(dir, segName(n)))
		if errors.Is(err, os.ErrNotExist) {
			continue // acknowledged and removed meanwhile
		}
		if errors.Is(err, errBadHeader) {
			continue // Open would set it aside
		}
		if err != nil {
			return Stats{}, err
		}
		events = append(events, t.add(s, segName(n), log)...)
		st.DiskBytes += size
		st.Segments++
	}
	st.LastSeq, st.Acked, st.Dropped = t.lastSeq, t.acked, t.dropped
	for _, e := range events {
		if e.seq > t.acked {
			st.Pending++
			st.PendingBytes += e.size
		}
	}
	return st, nil
}

// scanFile scans the segment at path and returns it with the file's size.
func scanFile(path string) (segScan, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return segScan{}, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return segScan{}, 0, fmt.Errorf("stat segment: %w", err)
	}
	s, err := scanSegment(f, filepath.Base(path), slog.New(slog.DiscardHandler))
	return s, fi.Size(), err
}
