package meta

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// CustomKey is the key of Patchbay's object inside a TUF target's custom
// field: {"patchbay": {...}}. Other keys belong to other tools.
const CustomKey = "patchbay"

// Kind says what an image replaces on a device. Values are persisted.
type Kind string

// The kinds of target.
const (
	KindFirmware Kind = "firmware" // the whole system image of a board (A/B slot)
	KindApp      Kind = "app"      // an application package on top of the firmware
	KindAgent    Kind = "agent"    // the Patchbay agent itself
)

// ParseKind reads a kind name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindFirmware, KindApp, KindAgent:
		return k, nil
	}
	return "", fmt.Errorf("kind %q: want firmware, app or agent", s)
}

// Target is Patchbay's metadata about one signed image. The JSON form lives
// in targets.json; the same field names are used in YAML.
type Target struct {
	Kind Kind `json:"kind" yaml:"kind"`
	// Boards are the board profile ids the image fits
	// ("openwrt-ath79-generic").
	Boards []string `json:"boards" yaml:"boards"`
	// Version is the image's version, ordered by the board's scheme.
	Version string   `json:"version" yaml:"version"`
	CVEs    []string `json:"cves,omitempty" yaml:"cves,omitempty"`
	// CVSS is the CVSS v3.x vector of the worst hole the image closes; the
	// target's severity derives from it.
	CVSS string `json:"cvss,omitempty" yaml:"cvss,omitempty"`
	// KEV says a CVE it closes is listed as known exploited.
	KEV            bool `json:"kev,omitempty" yaml:"kev,omitempty"`
	RequiresReboot bool `json:"requires_reboot,omitempty" yaml:"requires_reboot,omitempty"`
	// MinVersion is the oldest installed version the image can be applied
	// on; empty means any.
	MinVersion string `json:"min_version,omitempty" yaml:"min_version,omitempty"`
	// AllowDowngrade lets a device install the image although it runs a
	// newer version (a signed rollback of a bad release).
	AllowDowngrade bool `json:"allow_downgrade,omitempty" yaml:"allow_downgrade,omitempty"`
	// EOL is the end of life of the board or firmware line, for reports.
	EOL Date `json:"eol,omitzero" yaml:"eol,omitempty"`
	// Released is the release date.
	Released Date `json:"released,omitzero" yaml:"released,omitempty"`
}

// ErrInvalid is matched by every *FieldError.
var ErrInvalid = errors.New("invalid target metadata")

// FieldError says which field of target metadata is wrong and what would be
// right.
type FieldError struct {
	Field   string // JSON/YAML field name, e.g. "cvss" or "boards[1]"
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

var (
	boardPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	cvePattern   = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,}$`)
)

// maxVersionLen bounds version strings; longer ones are garbage.
const maxVersionLen = 128

// Validate checks every field and returns all problems at once, each a
// *FieldError, joined.
func (t Target) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	switch t.Kind {
	case KindFirmware, KindApp, KindAgent:
	case "":
		bad("kind", "required (firmware, app or agent)")
	default:
		bad("kind", "%q is not firmware, app or agent", t.Kind)
	}
	if len(t.Boards) == 0 {
		bad("boards", "at least one board profile id is required")
	}
	seen := map[string]bool{}
	for i, b := range t.Boards {
		field := fmt.Sprintf("boards[%d]", i)
		switch {
		case !boardPattern.MatchString(b):
			bad(field, "%q is not a board profile id (lower-case letters, digits, '.', '_', '-')", b)
		case seen[b]:
			bad(field, "%q is listed twice", b)
		}
		seen[b] = true
	}
	if msg := versionProblem(t.Version); msg != "" {
		bad("version", "%s", msg)
	}
	if t.MinVersion != "" {
		if msg := versionProblem(t.MinVersion); msg != "" {
			bad("min_version", "%s", msg)
		}
	}
	seen = map[string]bool{}
	for i, c := range t.CVEs {
		field := fmt.Sprintf("cves[%d]", i)
		switch {
		case !cvePattern.MatchString(c):
			bad(field, "%q is not a CVE id (CVE-YYYY-NNNN)", c)
		case seen[c]:
			bad(field, "%q is listed twice", c)
		}
		seen[c] = true
	}
	if t.CVSS != "" {
		if _, err := ParseCVSS(t.CVSS); err != nil {
			bad("cvss", "%v", err)
		}
	}
	if t.KEV && len(t.CVEs) == 0 {
		bad("kev", "true needs the known exploited CVE in cves")
	}
	if !t.EOL.IsZero() && !t.Released.IsZero() && t.EOL.Before(t.Released) {
		bad("eol", "%s is before the release date %s", t.EOL, t.Released)
	}
	return errors.Join(errs...)
}

func versionProblem(v string) string {
	switch {
	case v == "":
		return "required"
	case len(v) > maxVersionLen:
		return fmt.Sprintf("longer than %d characters", maxVersionLen)
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Sprintf("%q contains spaces or control characters", v)
	}
	return ""
}

// Severity is the rating of the target's CVSS vector, SeverityNone when it
// has none. A target whose vector does not parse rates as critical, so
// that a broken vector never hides an urgent fix (Validate reports it).
func (t Target) Severity() Severity {
	if t.CVSS == "" {
		return SeverityNone
	}
	c, err := ParseCVSS(t.CVSS)
	if err != nil {
		return SeverityCritical
	}
	return c.Severity()
}

// Fits reports whether the target lists the board profile id.
func (t Target) Fits(board string) bool {
	for _, b := range t.Boards {
		if b == board {
			return true
		}
	}
	return false
}
