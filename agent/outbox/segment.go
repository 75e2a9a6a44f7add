package outbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"patchbay.dev/firmware/telemetry"
)

const (
	segSuffix = ".seg"
	tmpSuffix = ".tmp"
	// badSuffix is appended to a segment whose header is unreadable, so an
	// operator can look at it; the outbox goes on without it.
	badSuffix = ".corrupt"
)

// errBadHeader marks a segment whose header is missing or unreadable: not
// a segment this package wrote whole.
var errBadHeader = errors.New("no valid segment header")

// segment is one open segment file.
type segment struct {
	num  uint64
	f    *os.File
	size int64 // bytes of whole records
	live int   // live (unacknowledged) events in it
}

func segName(num uint64) string { return fmt.Sprintf("%016x%s", num, segSuffix) }

// parseSegName returns the number of a segment file name.
func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil && n > 0
}

// listSegments returns the segment numbers in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list outbox %s: %w", dir, err)
	}
	var nums []uint64
	for _, e := range entries {
		if n, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// scannedEvent is where one event record lies in a segment.
type scannedEvent struct {
	seq      uint64
	off      int64
	size     int64
	progress bool
}

// segScan is what one segment holds.
type segScan struct {
	header record
	good   int64 // offset just past the last whole record
	events []scannedEvent
	ack    uint64 // highest ack record
	maxSeq uint64 // highest event sequence number in the segment
	// tail says why reading stopped before the end of the file, nil at a
	// clean end.
	tail error
}

// scanSegment reads a segment. It fails when reading fails or when the
// header is missing or unreadable (errBadHeader); a torn or corrupt record
// ends the scan, with the reason in tail. Records it cannot use are logged
// and skipped.
func scanSegment(r io.Reader, name string, log *slog.Logger) (segScan, error) {
	var s segScan
	fr := newFrameReader(r)
	h, err := readHeaderFrom(fr, name)
	if err != nil {
		return s, err
	}
	s.header = h
	s.good = fr.off
	for {
		payload, off, err := fr.next()
		switch {
		case errors.Is(err, io.EOF):
			return s, nil
		case errors.Is(err, errTorn):
			s.tail = err
			return s, nil
		case err != nil:
			return s, fmt.Errorf("read segment %s: %w", name, err)
		}
		s.good = fr.off
		r, err := decodeRecord(payload)
		if err != nil {
			log.Warn("outbox record skipped", "segment", name, "offset", off, "err", err)
			continue
		}
		switch r.Kind {
		case kindEvent:
			ev, err := decodeEvent(r)
			if err != nil {
				log.Error("outbox event unreadable", "segment", name, "offset", off, "err", err)
				continue
			}
			if ev.Seq > maxSeq {
				log.Error("outbox event with an impossible sequence number skipped", "segment", name, "offset", off, "seq", ev.Seq)
				continue
			}
			if ev.Seq <= s.maxSeq {
				log.Warn("outbox event out of sequence skipped", "segment", name, "offset", off, "seq", ev.Seq, "after", s.maxSeq)
				continue
			}
			s.maxSeq = ev.Seq
			s.events = append(s.events, scannedEvent{seq: ev.Seq, off: off, size: fr.off - off, progress: ev.Type == telemetry.EventProgress})
		case kindAck:
			if r.Seq > maxSeq {
				log.Error("outbox ack with an impossible sequence number skipped", "segment", name, "offset", off, "seq", r.Seq)
				continue
			}
			s.ack = max(s.ack, r.Seq)
		case kindSegment:
			log.Warn("outbox segment header in the middle skipped", "segment", name, "offset", off)
		default:
			log.Debug("outbox record of unknown kind skipped", "segment", name, "offset", off, "kind", r.Kind)
		}
	}
}

// readHeader reads only the header of the segment at path.
func readHeader(path string) (record, error) {
	f, err := os.Open(path)
	if err != nil {
		return record{}, fmt.Errorf("read segment header: %w", err)
	}
	defer f.Close()
	return readHeaderFrom(newFrameReader(io.LimitReader(f, frameHeader+maxPayload)), filepath.Base(path))
}

// readHeaderFrom reads the header record. Anything but an I/O error wraps
// errBadHeader.
func readHeaderFrom(fr *frameReader, name string) (record, error) {
	payload, _, err := fr.next()
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, errTorn):
		return record{}, fmt.Errorf("segment %s: %w: %w", name, errBadHeader, err)
	case err != nil:
		return record{}, fmt.Errorf("read segment %s: %w", name, err)
	}
	h, err := decodeRecord(payload)
	if err != nil {
		return record{}, fmt.Errorf("segment %s: %w: %w", name, errBadHeader, err)
	}
	if h.Kind != kindSegment || h.Format != format {
		return record{}, fmt.Errorf("segment %s: %w: first record is %q format %d, want %q format %d", name, errBadHeader, h.Kind, h.Format, kindSegment, format)
	}
	if h.LastSeq > maxSeq || h.Acked > maxSeq {
		return record{}, fmt.Errorf("segment %s: %w: sequence number %d beyond %d", name, errBadHeader, max(h.LastSeq, h.Acked), uint64(maxSeq))
	}
	return h, nil
}

// createSegment writes a new segment whole: records to a temporary file,
// fsync, rename to its name, fsync the directory. It returns the file open
// for reading and appending, and its size. write is called with a buffered
// writer after the header and may copy records into it.
func createSegment(dir string, num uint64, header record, write func(w *bufio.Writer) error) (*os.File, int64, error) {
	name := segName(num)
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("create outbox segment: %w", err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(tmp)
		return nil, 0, fmt.Errorf("create outbox segment %s: %w", name, err)
	}
	hb, err := frame(header)
	if err != nil {
		return fail(err)
	}
	w := bufio.NewWriterSize(f, 32<<10)
	if _, err := w.Write(hb); err != nil {
		return fail(err)
	}
	if write != nil {
		if err := write(w); err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fail(err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		// The segment is in place; only its name may not be durable yet.
		f.Close()
		return nil, 0, fmt.Errorf("create outbox segment %s: %w", name, err)
	}
	return f, size, nil
}
