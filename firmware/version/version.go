package version

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind names a version scheme. Values are persisted in board profiles and
// target metadata.
type Kind string

// The schemes.
const (
	KindSemver Kind = "semver"
	KindDotted Kind = "dotted"
	KindRegex  Kind = "regex"
)

// ErrInvalid is wrapped by every error about a version string that does not
// fit its scheme.
var ErrInvalid = errors.New("invalid version")

// Scheme says how to read and order versions of one kind of firmware.
type Scheme struct {
	Kind Kind `yaml:"kind" json:"kind"`
	// Pattern is the regular expression of KindRegex. Its capture groups
	// are compared in order: as integers when both sides are digits, else
	// as text; an empty group sorts before a non-empty one.
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`

	re *regexp.Regexp
}

// Semver and Dotted are the schemes that need no pattern.
var (
	Semver = Scheme{Kind: KindSemver}
	Dotted = Scheme{Kind: KindDotted}
)

// Compile checks the scheme and prepares its pattern.
func (s Scheme) Compile() (Scheme, error) {
	switch s.Kind {
	case KindSemver, KindDotted:
		if s.Pattern != "" {
			return s, fmt.Errorf("version scheme %s: pattern is only for kind regex", s.Kind)
		}
		return s, nil
	case KindRegex:
		if s.Pattern == "" {
			return s, errors.New("version scheme regex: pattern is required")
		}
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return s, fmt.Errorf("version scheme regex: pattern: %w", err)
		}
		if re.NumSubexp() == 0 {
			return s, fmt.Errorf("version scheme regex: pattern %q has no capture groups to compare", s.Pattern)
		}
		s.re = re
		return s, nil
	case "":
		return s, errors.New("version scheme: kind is required (semver, dotted or regex)")
	default:
		return s, fmt.Errorf("version scheme: unknown kind %q (want semver, dotted or regex)", s.Kind)
	}
}

// String renders the scheme for messages.
func (s Scheme) String() string {
	if s.Kind == KindRegex {
		return "regex " + s.Pattern
	}
	return string(s.Kind)
}

// Valid reports whether v is a version of the scheme.
func (s Scheme) Valid(v string) error {
	_, err := s.parse(v)
	return err
}

// Compare orders a and b: -1 if a is older, 0 if they are the same
// release, +1 if a is newer. It fails when either does not fit the scheme.
func (s Scheme) Compare(a, b string) (int, error) {
	pa, err := s.parse(a)
	if err != nil {
		return 0, err
	}
	pb, err := s.parse(b)
	if err != nil {
		return 0, err
	}
	return pa.compare(pb), nil
}

// parsed is a version split into comparable parts: release parts, then an
// optional pre-release that sorts before the bare release.
type parsed struct {
	release []part
	pre     []part // nil: no pre-release
}

type part struct {
	num    uint64
	text   string
	isNum  bool
	absent bool // an empty regex group: sorts before anything present
}

func (p part) compare(q part) int {
	switch {
	case p.absent && q.absent:
		return 0
	case p.absent:
		return -1
	case q.absent:
		return 1
	case p.isNum && q.isNum:
		return cmpUint(p.num, q.num)
	case p.isNum: // numeric identifiers sort before text ones (SemVer 11.4.3)
		return -1
	case q.isNum:
		return 1
	default:
		return strings.Compare(p.text, q.text)
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p parsed) compare(q parsed) int {
	n := max(len(p.release), len(q.release))
	for i := range n {
		a, b := zeroPart, zeroPart
		if i < len(p.release) {
			a = p.release[i]
		}
		if i < len(q.release) {
			b = q.release[i]
		}
		if c := a.compare(b); c != 0 {
			return c
		}
	}
	switch {
	case p.pre == nil && q.pre == nil:
		return 0
	case p.pre == nil:
		return 1
	case q.pre == nil:
		return -1
	}
	for i := 0; i < len(p.pre) && i < len(q.pre); i++ {
		if c := p.pre[i].compare(q.pre[i]); c != 0 {
			return c
		}
	}
	return cmpInt(len(p.pre), len(q.pre))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var zeroPart = part{isNum: true}

func (s Scheme) parse(v string) (parsed, error) {
	if v == "" {
		return parsed{}, fmt.Errorf("%w: empty version (scheme %s)", ErrInvalid, s)
	}
	switch s.Kind {
	case KindSemver:
		return parseSemver(v)
	case KindDotted:
		return parseDotted(v)
	case KindRegex:
		re := s.re
		if re == nil {
			c, err := s.Compile()
			if err != nil {
				return parsed{}, err
			}
			re = c.re
		}
		return parseRegex(re, v)
	default:
		_, err := s.Compile()
		return parsed{}, err
	}
}

func trimV(v string) string {
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		return v[1:]
	}
	return v
}

func parseSemver(v string) (parsed, error) {
	s := trimV(v)
	if i := strings.IndexByte(s, '+'); i >= 0 { // build metadata does not order
		if !validIdents(s[i+1:], false) {
			return parsed{}, fmt.Errorf("%w: %q: bad build metadata (semver)", ErrInvalid, v)
		}
		s = s[:i]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	fields := strings.Split(core, ".")
	if len(fields) != 3 {
		return parsed{}, fmt.Errorf("%w: %q: want MAJOR.MINOR.PATCH (semver)", ErrInvalid, v)
	}
	var p parsed
	for _, f := range fields {
		n, ok := numeric(f, true)
		if !ok {
			return parsed{}, fmt.Errorf("%w: %q: %q is not a number without leading zeros (semver)", ErrInvalid, v, f)
		}
		p.release = append(p.release, part{num: n, isNum: true})
	}
	if hasPre {
		if !validIdents(pre, true) {
			return parsed{}, fmt.Errorf("%w: %q: bad pre-release %q (semver)", ErrInvalid, v, pre)
		}
		p.pre = identParts(pre)
	}
	return p, nil
}

func validIdents(s string, strictNumeric bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, r := range id {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
		if strictNumeric && isDigits(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

func identParts(s string) []part {
	ids := strings.Split(s, ".")
	parts := make([]part, 0, len(ids))
	for _, id := range ids {
		if n, ok := numeric(id, false); ok {
			parts = append(parts, part{num: n, isNum: true})
		} else {
			parts = append(parts, part{text: id})
		}
	}
	return parts
}

// naturalParts splits "rc10" into "rc", 10 so that rc4 < rc10.
func naturalParts(s string) []part {
	var parts []part
	for s != "" {
		i := 0
		digits := s[0] >= '0' && s[0] <= '9'
		for i < len(s) && (s[i] >= '0' && s[i] <= '9') == digits {
			i++
		}
		if n, ok := numeric(s[:i], false); ok {
			parts = append(parts, part{num: n, isNum: true})
		} else {
			parts = append(parts, part{text: s[:i]})
		}
		s = s[i:]
	}
	return parts
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func numeric(s string, noLeadingZero bool) (uint64, bool) {
	if !isDigits(s) || noLeadingZero && len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

var gluedPre = regexp.MustCompile(`^(.*[0-9])((?:alpha|beta|rc|pre)[0-9]*)$`)

// parseDotted reads "23.05.3", "21.02.0-rc4", "7.15rc2", "W.15.08.0012", "V6.4": parts
// split on '.', each a number or a word; a '-' starts a pre-release that
// sorts before the release; leading zeros do not matter ("05" == "5").
func parseDotted(v string) (parsed, error) {
	s := trimV(strings.TrimSpace(v))
	core, pre, hasPre := strings.Cut(s, "-")
	if !hasPre { // "7.15rc2": a pre-release glued to the last number (RouterOS)
		if m := gluedPre.FindStringSubmatch(core); m != nil {
			core, pre, hasPre = m[1], m[2], true
		}
	}
	if core == "" {
		return parsed{}, fmt.Errorf("%w: %q: no release numbers (dotted)", ErrInvalid, v)
	}
	var p parsed
	for _, f := range strings.Split(core, ".") {
		if f == "" {
			return parsed{}, fmt.Errorf("%w: %q: empty part between dots (dotted)", ErrInvalid, v)
		}
		if !validIdents(f, false) || strings.Contains(f, "-") {
			return parsed{}, fmt.Errorf("%w: %q: part %q must be letters or digits (dotted)", ErrInvalid, v, f)
		}
		p.release = append(p.release, naturalParts(f)...)
	}
	if hasPre {
		if !validIdents(pre, false) {
			return parsed{}, fmt.Errorf("%w: %q: bad pre-release %q (dotted)", ErrInvalid, v, pre)
		}
		for _, id := range strings.Split(pre, ".") {
			p.pre = append(p.pre, naturalParts(id)...)
		}
	}
	return p, nil
}

func parseRegex(re *regexp.Regexp, v string) (parsed, error) {
	m := re.FindStringSubmatch(v)
	if m == nil {
		return parsed{}, fmt.Errorf("%w: %q does not match %q", ErrInvalid, v, re)
	}
	var p parsed
	for _, g := range m[1:] {
		switch n, ok := numeric(g, false); {
		case ok:
			p.release = append(p.release, part{num: n, isNum: true})
		case g == "":
			// An absent group sorts before any present one: "15.2(7)E" < "15.2(7)E8".
			p.release = append(p.release, part{absent: true})
		default:
			p.release = append(p.release, part{text: g})
		}
	}
	return p, nil
}
