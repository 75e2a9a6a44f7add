package boards

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ProfileError is one problem in a profile file. Load and ParseProfile
// return every problem they find, joined.
type ProfileError struct {
	File  string
	Line  int    // 0: the file as a whole
	Field string // dotted path, "version.sources[1].regex"; empty: the document
	Msg   string // what is wrong and what would be right
}

func (e *ProfileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// decoder walks a YAML node tree, collecting a *ProfileError for every
// problem instead of stopping at the first.
type decoder struct {
	file string
	errs []error
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &ProfileError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// field is one key of a mapping and how to decode its value.
type field struct {
	name     string
	required bool
	decode   func(n *yaml.Node, path string)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// usable rejects aliases (so no node is decoded twice and no alias bomb
// expands) and reports whether n can be decoded further.
func (d *decoder) usable(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, path, "YAML anchors and aliases are not supported in profiles; write the value out")
		return false
	}
	return true
}

// mapping decodes a mapping by its known fields: unknown, repeated and
// missing required keys are errors. It returns the keys that were given.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) map[string]*yaml.Node {
	if !d.usable(n, path) {
		return nil
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	what := path
	if what == "" {
		what = "profile"
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping with keys %s, found %s", strings.Join(names, ", "), kindName(n))
		return nil
	}
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain names, found %s", kindName(k))
			continue
		}
		at := slices.Index(names, k.Value)
		if at < 0 {
			d.errorf(k, join(path, k.Value), "unknown field in %s (known fields: %s)", what, strings.Join(names, ", "))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, join(path, k.Value), "given twice (first on line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		fields[at].decode(v, join(path, k.Value))
	}
	for _, f := range fields {
		if _, ok := seen[f.name]; f.required && !ok {
			d.errorf(n, join(path, f.name), "required field is missing")
		}
	}
	return seen
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if !d.usable(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, path, "want %s, found %s", want, kindName(n))
		return "", false
	}
	return n.Value, true
}

// str decodes a non-empty string.
func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	s, ok := d.scalar(n, path, "a string")
	if !ok {
		return
	}
	if strings.TrimSpace(s) == "" {
		d.errorf(n, path, "must not be empty")
		return
	}
	*dst = s
}

// oneOf decodes a string that must be one of choices.
func (d *decoder) oneOf(n *yaml.Node, path string, dst *string, choices ...string) {
	s, ok := d.scalar(n, path, "one of "+strings.Join(choices, ", "))
	if !ok {
		return
	}
	if !slices.Contains(choices, s) {
		d.errorf(n, path, "%q is not one of %s", s, strings.Join(choices, ", "))
		return
	}
	*dst = s
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok {
		return
	}
	switch s {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		d.errorf(n, path, "want true or false, found %q", s)
	}
}

// integer decodes a whole number within [lo, hi]; 0x, 0o and 0b prefixes
// are allowed (0x10000).
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64, dst *int64) {
	s, ok := d.scalar(n, path, "a number")
	if !ok {
		return
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil || v < lo || v > hi {
		d.errorf(n, path, "want a whole number from %d to %d (0x… allowed), found %q", lo, hi, s)
		return
	}
	*dst = v
}

func (d *decoder) size(n *yaml.Node, path string, dst *uint64) {
	var v int64
	d.integer(n, path, 0, 1<<40, &v)
	*dst = uint64(v)
}

// duration decodes a Go duration string such as "30s", within (0, max].
func (d *decoder) duration(n *yaml.Node, path string, max time.Duration, dst *time.Duration) {
	s, ok := d.scalar(n, path, `a duration such as "30s"`)
	if !ok {
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 || v > max {
		d.errorf(n, path, "want a duration above 0 and at most %s, such as \"30s\" or \"2m\", found %q", max, s)
		return
	}
	*dst = v
}

// regex compiles a regular expression (Go RE2 syntax); groups >= 0 demands
// exactly that many capture groups.
func (d *decoder) regex(n *yaml.Node, path string, groups int, dst **regexp.Regexp) {
	s, ok := d.scalar(n, path, "a regular expression")
	if !ok {
		return
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.errorf(n, path, "bad regular expression (Go RE2 syntax): %v", err)
		return
	}
	if groups >= 0 && re.NumSubexp() != groups {
		d.errorf(n, path, "%q has %d capture groups, want exactly %d around the version (use (?:…) for other groups)", s, re.NumSubexp(), groups)
		return
	}
	*dst = re
}

// list decodes each element of a sequence.
func (d *decoder) list(n *yaml.Node, path string, each func(n *yaml.Node, path string)) int {
	if !d.usable(n, path) {
		return 0
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, found %s", kindName(n))
		return 0
	}
	for i, e := range n.Content {
		each(e, index(path, i))
	}
	return len(n.Content)
}

// stringList decodes a list of non-empty strings.
func (d *decoder) stringList(n *yaml.Node, path string, dst *[]string) {
	d.list(n, path, func(e *yaml.Node, p string) {
		var s string
		d.str(e, p, &s)
		if s != "" {
			*dst = append(*dst, s)
		}
	})
}

// stringMap decodes a mapping of names to non-empty strings.
func (d *decoder) stringMap(n *yaml.Node, path string, dst *map[string]string) {
	if !d.usable(n, path) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of names to strings, found %s", kindName(n))
		return
	}
	m := make(map[string]string)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var name, value string
		d.str(k, path, &name)
		if name == "" {
			continue
		}
		if _, dup := m[name]; dup {
			d.errorf(k, join(path, name), "given twice")
			continue
		}
		d.str(v, join(path, name), &value)
		m[name] = value
	}
	*dst = m
}

// oid checks a dotted numeric OID without a leading dot.
func (d *decoder) oid(n *yaml.Node, path string, dst *string) {
	s, ok := d.scalar(n, path, "an OID")
	if !ok {
		return
	}
	if err := checkOID(s); err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*dst = s
}

func checkOID(s string) error {
	if strings.HasPrefix(s, ".") {
		return fmt.Errorf("OID %q: write it without the leading dot", s)
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return fmt.Errorf("OID %q: want dotted numbers such as 1.3.6.1.2.1.1.2.0", s)
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil || len(p) > 1 && p[0] == '0' {
			return fmt.Errorf("OID %q: %q is not a sub-identifier; want dotted numbers such as 1.3.6.1.2.1.1.2.0 (MIB names are not resolved)", s, p)
		}
	}
	return nil
}

// under reports whether oid is prefix itself or below it.
func under(oid, prefix string) bool {
	return oid == prefix || strings.HasPrefix(oid, prefix+".")
}

func arcs(oid string) int { return strings.Count(oid, ".") + 1 }
