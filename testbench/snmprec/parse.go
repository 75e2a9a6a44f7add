package snmprec

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Tag is the BER type of a recorded value, without snmprec's encoding
// suffix ("4x" and "4e" are both TagOctetString).
type Tag string

// The tags a recording may use.
const (
	TagInteger     Tag = "2"
	TagOctetString Tag = "4"
	TagNull        Tag = "5"
	TagOID         Tag = "6"
	TagIPAddress   Tag = "64"
	TagCounter32   Tag = "65"
	TagGauge32     Tag = "66"
	TagTimeTicks   Tag = "67"
	TagOpaque      Tag = "68"
	TagCounter64   Tag = "70"
)

// Record is one recorded variable.
type Record struct {
	// OID is dotted decimal without a leading dot.
	OID string
	Tag Tag
	// Value holds the decoded bytes of an OCTET STRING or Opaque, and the
	// canonical text of every other type: decimal numbers, a dotted OID
	// without a leading dot, a dotted-quad IpAddress; nil for NULL.
	Value []byte
	// Line is where the record was read, for messages.
	Line int
}

// ParseError is a line of a recording that could not be read.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// maxLine bounds one line; the longest real recording line is a few KiB.
const maxLine = 1 << 20

// maxErrors bounds how many bad lines one Parse reports.
const maxErrors = 20

// ReadFile parses the recording at path.
func ReadFile(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads a recording; name is used in messages (usually the file's
// path). It reports every bad line, up to a limit, joined in one error of
// *ParseError values.
func Parse(name string, r io.Reader) (*Recording, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		records []Record
		errs    []error
		line    int
	)
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 || text[0] == '#' {
			continue
		}
		rec, err := parseLine(text)
		if err != nil {
			errs = append(errs, &ParseError{File: name, Line: line, Msg: err.Error()})
			if len(errs) == maxErrors {
				errs = append(errs, fmt.Errorf("%s: stopped after %d bad lines", name, maxErrors))
				break
			}
			continue
		}
		rec.Line = line
		records = append(records, rec)
	}
	if err := sc.Err(); err != nil {
		msg := err.Error()
		if errors.Is(err, bufio.ErrTooLong) {
			msg = fmt.Sprintf("line longer than %d bytes", maxLine)
		}
		errs = append(errs, &ParseError{File: name, Line: line + 1, Msg: msg})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newRecording(name, records), nil
}

// parseLine reads "OID|TAG|VALUE".
func parseLine(text []byte) (Record, error) {
	oidText, rest, ok := bytes.Cut(text, []byte("|"))
	if !ok {
		return Record{}, errors.New(`want OID|TAG|VALUE, found no "|"`)
	}
	tagText, value, ok := bytes.Cut(rest, []byte("|"))
	if !ok {
		return Record{}, errors.New(`want OID|TAG|VALUE, found only one "|"`)
	}
	oid, err := canonicalOID(string(oidText))
	if err != nil {
		return Record{}, fmt.Errorf("OID: %w", err)
	}
	tag, enc, err := parseTag(string(tagText))
	if err != nil {
		return Record{}, err
	}
	v, err := decodeValue(tag, enc, value)
	if err != nil {
		return Record{}, fmt.Errorf("value of %s (tag %s): %w", oid, tagText, err)
	}
	return Record{OID: oid, Tag: tag, Value: v}, nil
}

// encoding is snmprec's suffix on a tag.
type encoding byte

const (
	plain   encoding = 0
	hexed   encoding = 'x'
	escaped encoding = 'e'
)

var knownTags = []Tag{TagInteger, TagOctetString, TagNull, TagOID, TagIPAddress,
	TagCounter32, TagGauge32, TagTimeTicks, TagOpaque, TagCounter64}

const tagHelp = "want 2, 4, 4x, 4e, 5, 6, 64, 64x, 64e, 65, 66, 67, 68, 68x, 68e or 70"

func parseTag(s string) (Tag, encoding, error) {
	if base, module, ok := strings.Cut(s, ":"); ok {
		return "", 0, fmt.Errorf("tag %q: snmpsim variation module %q is not supported (%s)", base, module, tagHelp)
	}
	enc := plain
	base := s
	if n := len(s); n > 1 && (s[n-1] == 'x' || s[n-1] == 'e') {
		enc = encoding(s[n-1])
		base = s[:n-1]
	}
	tag := Tag(base)
	if !slices.Contains(knownTags, tag) {
		return "", 0, fmt.Errorf("unknown tag %q (%s)", s, tagHelp)
	}
	if enc != plain && tag != TagOctetString && tag != TagIPAddress && tag != TagOpaque {
		return "", 0, fmt.Errorf("tag %q: the %q encoding is only for 4, 64 and 68 (%s)", s, rune(enc), tagHelp)
	}
	return tag, enc, nil
}

func decodeValue(tag Tag, enc encoding, raw []byte) ([]byte, error) {
	switch tag {
	case TagInteger:
		return decimal(raw, true, 32)
	case TagCounter32, TagGauge32, TagTimeTicks:
		return decimal(raw, false, 32)
	case TagCounter64:
		return decimal(raw, false, 64)
	case TagNull:
		return nil, nil
	case TagOID:
		oid, err := canonicalOID(string(raw))
		if err != nil {
			return nil, err
		}
		return []byte(oid), nil
	case TagIPAddress:
		if enc == plain {
			a, err := netip.ParseAddr(string(raw))
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%q is not a dotted-quad IPv4 address", raw)
			}
			return []byte(a.String()), nil
		}
		b, err := decodeBytes(enc, raw)
		if err != nil {
			return nil, err
		}
		if len(b) != 4 {
			return nil, fmt.Errorf("IpAddress has %d bytes, want 4", len(b))
		}
		return []byte(netip.AddrFrom4([4]byte(b)).String()), nil
	default: // TagOctetString, TagOpaque
		return decodeBytes(enc, raw)
	}
}

func decimal(raw []byte, signed bool, bits int) ([]byte, error) {
	s := string(raw)
	var err error
	if signed {
		_, err = strconv.ParseInt(s, 10, bits)
	} else {
		_, err = strconv.ParseUint(s, 10, bits)
	}
	if err != nil {
		kind := "an unsigned"
		if signed {
			kind = "a signed"
		}
		return nil, fmt.Errorf("%q is not %s %d-bit decimal number", s, kind, bits)
	}
	return []byte(s), nil
}

func decodeBytes(enc encoding, raw []byte) ([]byte, error) {
	switch enc {
	case hexed:
		b := make([]byte, hex.DecodedLen(len(raw)))
		if _, err := hex.Decode(b, raw); err != nil {
			return nil, fmt.Errorf("bad hex: %w", err)
		}
		return b, nil
	case escaped:
		return unescape(raw)
	default:
		return bytes.Clone(raw), nil
	}
}

// unescape decodes the backslash escapes of snmprec's "e" encoding (Python
// string escapes): \\ \' \" \a \b \f \n \r \t \v, \xHH and octal \ooo. An
// unknown escape is kept as written, as Python does.
func unescape(raw []byte) ([]byte, error) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 == len(raw) {
			return nil, errors.New(`escaped value ends with a lone "\"`)
		}
		i++
		switch c = raw[i]; c {
		case '\\', '\'', '"':
			out = append(out, c)
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			if i+2 >= len(raw) {
				return nil, fmt.Errorf(`"\x" at byte %d needs two hex digits`, i-1)
			}
			var b [1]byte
			if _, err := hex.Decode(b[:], raw[i+1:i+3]); err != nil {
				return nil, fmt.Errorf(`"\x" at byte %d needs two hex digits`, i-1)
			}
			out = append(out, b[0])
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			n, j := 0, i
			for ; j < len(raw) && j < i+3 && raw[j] >= '0' && raw[j] <= '7'; j++ {
				n = n*8 + int(raw[j]-'0')
			}
			if n > 0xff {
				return nil, fmt.Errorf(`octal escape at byte %d is above \377`, i-1)
			}
			out = append(out, byte(n))
			i = j - 1
		default:
			out = append(out, '\\', c)
		}
	}
	return out, nil
}

// canonicalOID checks a dotted OID and returns it without a leading dot.
func canonicalOID(s string) (string, error) {
	s = strings.TrimPrefix(s, ".")
	if _, err := parseArcs(s); err != nil {
		return "", err
	}
	return s, nil
}

// parseArcs splits a dotted OID into sub-identifiers: at least two, each
// a decimal number below 2^32 without leading zeros.
func parseArcs(s string) ([]uint32, error) {
	if s == "" {
		return nil, errors.New("empty OID")
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q: an OID has at least two sub-identifiers", s)
	}
	arcs := make([]uint32, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 1 && p[0] == '0' {
			return nil, fmt.Errorf("%q: sub-identifier %d is %q, want a decimal number without leading zeros", s, i+1, p)
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: sub-identifier %d is %q, want a decimal number below 2^32", s, i+1, p)
		}
		arcs[i] = uint32(n)
	}
	return arcs, nil
}
