package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"patchbay.dev/firmware/slot"
)

// HeaderSize is the size of an image header; the payload follows it.
const HeaderSize = 512

// The image header, all integers big-endian:
//
//	offset size
//	     0    8  magic "PBSIMG01"
//	     8   64  board profile id, NUL-padded
//	    72   32  version, NUL-padded
//	   104    4  flags: bit 0 = boots but fails health checks
//	   108    8  payload length in bytes
//	   116   32  SHA-256 of the payload
//	   148    4  CRC-32 (IEEE) of bytes 0–147
//	   152  360  zero
const (
	magic       = "PBSIMG01"
	boardOff    = 8
	boardLen    = 64
	versionOff  = 72
	versionLen  = 32
	flagsOff    = 104
	lengthOff   = 108
	sumOff      = 116
	crcOff      = 148
	flagUnwell  = 1 << 0
	knownFlags  = flagUnwell
	readBufSize = 64 << 10
)

// ErrNoImage is wrapped by errors about a slot that holds no image the
// boot loader would boot: no header, a damaged one, a payload that does
// not hash to the header's sum, or an image for another board.
var ErrNoImage = errors.New("no bootable image")

// Image is what an image header says.
type Image struct {
	Board   string
	Version string
	// HealthFails marks an image that boots but whose health checks fail.
	HealthFails bool
	// PayloadLength and PayloadSHA256 describe the bytes after the header.
	PayloadLength int64
	PayloadSHA256 [sha256.Size]byte
}

// Build returns a whole image: header and payload.
func Build(board, version string, payload []byte, healthFails bool) ([]byte, error) {
	im := Image{Board: board, Version: version, HealthFails: healthFails,
		PayloadLength: int64(len(payload)), PayloadSHA256: sha256.Sum256(payload)}
	h, err := im.Header()
	if err != nil {
		return nil, err
	}
	return append(h, payload...), nil
}

// Header encodes the header of im.
func (im Image) Header() ([]byte, error) {
	switch {
	case im.Board == "" || len(im.Board) > boardLen || strings.IndexByte(im.Board, 0) >= 0:
		return nil, fmt.Errorf("sim image: board %q must be 1–%d bytes without NUL", im.Board, boardLen)
	case im.Version == "" || len(im.Version) > versionLen || strings.IndexByte(im.Version, 0) >= 0:
		return nil, fmt.Errorf("sim image: version %q must be 1–%d bytes without NUL", im.Version, versionLen)
	case im.PayloadLength < 0:
		return nil, fmt.Errorf("sim image: negative payload length %d", im.PayloadLength)
	}
	h := make([]byte, HeaderSize)
	copy(h, magic)
	copy(h[boardOff:], im.Board)
	copy(h[versionOff:], im.Version)
	var flags uint32
	if im.HealthFails {
		flags |= flagUnwell
	}
	binary.BigEndian.PutUint32(h[flagsOff:], flags)
	binary.BigEndian.PutUint64(h[lengthOff:], uint64(im.PayloadLength))
	copy(h[sumOff:], im.PayloadSHA256[:])
	binary.BigEndian.PutUint32(h[crcOff:], crc32.ChecksumIEEE(h[:crcOff]))
	return h, nil
}

// ParseHeader decodes an image header. It checks the magic, the CRC and
// the fields, not the payload.
func ParseHeader(h []byte) (Image, error) {
	if len(h) < HeaderSize {
		return Image{}, fmt.Errorf("header of %d bytes, want %d: %w", len(h), HeaderSize, ErrNoImage)
	}
	if string(h[:len(magic)]) != magic {
		return Image{}, fmt.Errorf("no image magic (first bytes %x): %w", h[:len(magic)], ErrNoImage)
	}
	if got, want := crc32.ChecksumIEEE(h[:crcOff]), binary.BigEndian.Uint32(h[crcOff:]); got != want {
		return Image{}, fmt.Errorf("header crc32 is %#08x, header says %#08x: %w", got, want, ErrNoImage)
	}
	flags := binary.BigEndian.Uint32(h[flagsOff:])
	length := binary.BigEndian.Uint64(h[lengthOff:])
	im := Image{
		Board:         cString(h[boardOff : boardOff+boardLen]),
		Version:       cString(h[versionOff : versionOff+versionLen]),
		HealthFails:   flags&flagUnwell != 0,
		PayloadLength: int64(length),
	}
	copy(im.PayloadSHA256[:], h[sumOff:sumOff+sha256.Size])
	switch {
	case flags&^knownFlags != 0:
		return Image{}, fmt.Errorf("unknown header flags %#x: %w", flags&^knownFlags, ErrNoImage)
	case length > 1<<40:
		return Image{}, fmt.Errorf("payload length %d is implausible: %w", length, ErrNoImage)
	case im.Board == "" || im.Version == "":
		return Image{}, fmt.Errorf("header without board or version: %w", ErrNoImage)
	}
	return im, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Inspect reads the image in s and checks it as the boot loader does: a
// valid header for board and a payload that hashes to the header's sum.
// It returns an error wrapping ErrNoImage if the slot would not boot.
func Inspect(ctx context.Context, s slot.Slot, board string) (im Image, err error) {
	rc, err := s.Open(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("inspect slot %s: %w", s.Name(), err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("inspect slot %s: %w", s.Name(), cerr)
		}
	}()
	h := make([]byte, HeaderSize)
	if _, err := io.ReadFull(rc, h); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Image{}, fmt.Errorf("inspect slot %s: shorter than a header: %w", s.Name(), ErrNoImage)
		}
		return Image{}, fmt.Errorf("inspect slot %s: %w", s.Name(), err)
	}
	im, err = ParseHeader(h)
	if err != nil {
		return Image{}, fmt.Errorf("inspect slot %s: %w", s.Name(), err)
	}
	if im.Board != board {
		return Image{}, fmt.Errorf("inspect slot %s: image for board %s, this is %s: %w", s.Name(), im.Board, board, ErrNoImage)
	}
	sum := sha256.New()
	buf := make([]byte, readBufSize)
	n, err := io.CopyBuffer(sum, io.LimitReader(ctxReader{ctx, rc}, im.PayloadLength), buf)
	if err != nil {
		return Image{}, fmt.Errorf("inspect slot %s: read payload: %w", s.Name(), err)
	}
	if n != im.PayloadLength {
		return Image{}, fmt.Errorf("inspect slot %s: payload ends after %d of %d bytes: %w", s.Name(), n, im.PayloadLength, ErrNoImage)
	}
	if got := sum.Sum(nil); !bytes.Equal(got, im.PayloadSHA256[:]) {
		return Image{}, fmt.Errorf("inspect slot %s: payload sha256 %x, header says %x: %w", s.Name(), got, im.PayloadSHA256, ErrNoImage)
	}
	return im, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
