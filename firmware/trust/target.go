package trust

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"maps"
	"path"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/meta"
)

// Target is one signed file as trusted metadata describes it.
type Target struct {
	Name   string            // the TUF target path, e.g. "openwrt/ath79/sysupgrade.bin"
	Length int64             // signed length in bytes
	Hashes map[string][]byte // algorithm → digest, every one is checked
	// Meta is the target's Patchbay metadata; nil when it has none or it
	// does not decode, and then MetaErr says why.
	Meta    *meta.Target
	MetaErr error

	// consistent is true when the repository uses consistent snapshots:
	// the file is then fetched under a hash-prefixed name.
	consistent bool
}

func newTarget(tf *metadata.TargetFiles, consistent bool) Target {
	t := Target{Name: tf.Path, Length: tf.Length, Hashes: make(map[string][]byte, len(tf.Hashes)), consistent: consistent}
	for alg, sum := range tf.Hashes {
		t.Hashes[alg] = slices.Clone(sum)
	}
	switch {
	case tf.Custom == nil:
		t.MetaErr = meta.ErrNoMetadata
	default:
		m, err := meta.Decode(*tf.Custom)
		if err != nil {
			t.MetaErr = err
		} else {
			t.Meta = &m
		}
	}
	return t
}

// RemotePath is where the file lies below the remote's targets location:
// the target path itself, or, with consistent snapshots, the same
// directory and "<hex digest>.<base name>" (SHA-256 preferred).
func (t Target) RemotePath() string {
	if !t.consistent {
		return t.Name
	}
	alg := "sha256"
	if _, ok := t.Hashes[alg]; !ok {
		algs := slices.Sorted(maps.Keys(t.Hashes))
		if len(algs) == 0 {
			return t.Name
		}
		alg = algs[0]
	}
	dir, base := path.Split(t.Name)
	return dir + hex.EncodeToString(t.Hashes[alg]) + "." + base
}

// Verifier checks a stream of bytes against a target's signed length and
// every signed hash. It does no I/O: write the bytes in order, then call
// Verify. Write fails with a *LengthError the moment the stream passes the
// signed length, before the extra bytes reach any writer behind it in an
// io.MultiWriter.
type Verifier struct {
	target  string
	length  int64
	written int64
	checks  []hashCheck
	sum     [sha512.Size]byte
}

type hashCheck struct {
	alg  string
	want []byte
	h    hash.Hash
}

// NewVerifier prepares the checks for t. It refuses a target without
// hashes or with an algorithm it cannot compute (ErrUnsupportedHash).
func NewVerifier(t Target) (*Verifier, error) {
	if len(t.Hashes) == 0 {
		return nil, &metadata.ErrLengthOrHashMismatch{Msg: "target " + t.Name + " has no signed hashes"}
	}
	v := &Verifier{target: t.Name, length: t.Length}
	for _, alg := range slices.Sorted(maps.Keys(t.Hashes)) {
		var h hash.Hash
		switch alg {
		case "sha256":
			h = sha256.New()
		case "sha512":
			h = sha512.New()
		default:
			return nil, errors.Join(ErrUnsupportedHash, errors.New("target "+t.Name+": "+alg))
		}
		v.checks = append(v.checks, hashCheck{alg: alg, want: t.Hashes[alg], h: h})
	}
	return v, nil
}

// Write hashes p, or fails if p would pass the signed length.
func (v *Verifier) Write(p []byte) (int, error) {
	if err := v.admit(len(p)); err != nil {
		return 0, err
	}
	v.hash(p)
	return len(p), nil
}

// admit counts n more bytes of the stream, or fails if they would pass
// the signed length. Write is admit then hash; a pipelined copy admits a
// chunk when it is read and hashes it later, on another goroutine.
func (v *Verifier) admit(n int) error {
	if int64(n) > v.length-v.written {
		return &LengthError{Name: "target " + v.target, Want: v.length, Got: v.written + int64(n)}
	}
	v.written += int64(n)
	return nil
}

// hash feeds admitted bytes, in stream order, to every signed hash.
func (v *Verifier) hash(p []byte) {
	for _, c := range v.checks {
		c.h.Write(p) // hash.Hash.Write never fails
	}
}

// Written is the number of bytes verified so far.
func (v *Verifier) Written() int64 { return v.written }

// Verify checks the final length and every hash.
func (v *Verifier) Verify() error {
	if v.written != v.length {
		return &LengthError{Name: "target " + v.target, Want: v.length, Got: v.written}
	}
	for _, c := range v.checks {
		got := c.h.Sum(v.sum[:0])
		if subtle.ConstantTimeCompare(got, c.want) != 1 {
			return &HashMismatchError{Target: v.target, Algorithm: c.alg, Want: hex.EncodeToString(c.want), Got: hex.EncodeToString(got)}
		}
	}
	return nil
}
