package bootenv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// layout is the shape of one stored copy.
type layout struct {
	size      int // bytes of the copy: header and data area
	redundant bool
	order     binary.ByteOrder
}

// headerSize is the CRC, plus the flag byte of redundant environments.
func (l layout) headerSize() int {
	if l.redundant {
		return 5
	}
	return 4
}

func (l layout) dataSize() int { return l.size - l.headerSize() }

// encodeCopy renders env as one stored copy with the given flag (ignored
// for a single environment).
func encodeCopy(env Env, flag byte, l layout) ([]byte, error) {
	data, err := encodeData(env, l.dataSize())
	if err != nil {
		return nil, err
	}
	img := make([]byte, l.headerSize(), l.size)
	l.order.PutUint32(img, crc32.ChecksumIEEE(data))
	if l.redundant {
		img[4] = flag
	}
	return append(img, data...), nil
}

// decodeCopy checks and parses one stored copy. A CRC mismatch is a
// *CRCError without Device and Offset, which the caller knows.
func decodeCopy(img []byte, l layout) (env Env, flag byte, err error) {
	if len(img) != l.size || l.size <= l.headerSize() {
		return Env{}, 0, fmt.Errorf("bootenv: copy of %d bytes, want %d: %w", len(img), l.size, ErrCorrupt)
	}
	data := img[l.headerSize():]
	stored, computed := l.order.Uint32(img), crc32.ChecksumIEEE(data)
	if stored != computed {
		erased := bytes.Count(img, []byte{0xFF}) == len(img)
		return Env{}, 0, &CRCError{Stored: stored, Computed: computed, Erased: erased}
	}
	if l.redundant {
		flag = img[4]
	}
	env, err = decodeData(data)
	return env, flag, err
}

// flagScheme is how the flag bytes of redundant copies order them.
type flagScheme int

const (
	// incremental: each write stores the active copy's flag plus one
	// (files, block devices, NAND, UBI).
	incremental flagScheme = iota
	// boolean: the new copy is written active (1), then the old one is
	// marked obsolete (0) in place (NOR flash, which can clear bits
	// without erasing).
	boolean
)

const (
	flagObsolete byte = 0
	flagActive   byte = 1
)

func (s flagScheme) String() string {
	if s == boolean {
		return "boolean (NOR)"
	}
	return "incremental"
}

// activeCopy returns which of two copies is in use, given whether each is
// valid and their flags; -1 if neither is valid. These are the rules of
// libubootenv (checked against fw_printenv by TestActiveCopyMatchesTools).
func activeCopy(s flagScheme, valid [2]bool, flags [2]byte) int {
	switch {
	case !valid[0] && !valid[1]:
		return -1
	case !valid[1]:
		return 0
	case !valid[0]:
		return 1
	}
	cur := 0
	if flags[1] > flags[0] {
		cur = 1
	}
	switch s {
	case boolean:
		// An erased flag wins: the copy was written by something that
		// does not set it.
		if flags[1] == 0xFF {
			cur = 1
		} else if flags[0] == 0xFF {
			cur = 0
		}
	case incremental:
		// 0 follows 255.
		if flags[0] == 0xFF && flags[1] == 0 {
			cur = 1
		} else if flags[1] == 0xFF && flags[0] == 0 {
			cur = 0
		}
	}
	return cur
}

// nextFlag returns the flag of a copy written after one with flag cur.
func nextFlag(s flagScheme, cur byte) byte {
	if s == boolean {
		return flagActive
	}
	return cur + 1
}
