package boards

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"patchbay.dev/firmware/version"
)

func (d *decoder) version(n *yaml.Node, at string) Version {
	var v Version
	d.mapping(n, at, []field{
		{"scheme", true, func(n *yaml.Node, at string) { v.Scheme = d.scheme(n, at) }},
		{"sources", true, func(n *yaml.Node, at string) {
			if d.list(n, at, func(n *yaml.Node, at string) {
				if s, ok := d.source(n, at); ok {
					v.Sources = append(v.Sources, s)
				}
			}) == 0 && n.Kind == yaml.SequenceNode {
				d.errorf(n, at, "empty list; give at least one place to read the version from")
			}
		}},
	})
	return v
}

// scheme accepts "semver" or "dotted", or a mapping {kind, pattern}.
func (d *decoder) scheme(n *yaml.Node, at string) version.Scheme {
	var s version.Scheme
	if !d.usable(n, at) {
		return s
	}
	if n.Kind == yaml.ScalarNode {
		switch k := version.Kind(n.Value); k {
		case version.KindSemver, version.KindDotted:
			s.Kind = k
		case version.KindRegex:
			d.errorf(n, at, "kind regex needs a pattern: write scheme: {kind: regex, pattern: '^(\\d+)\\.(\\d+)…'}")
			return s
		default:
			d.errorf(n, at, "unknown version scheme %q: want semver, dotted, or {kind: regex, pattern: …}", n.Value)
			return s
		}
	} else {
		var kind string
		d.mapping(n, at, []field{
			{"kind", true, func(n *yaml.Node, at string) {
				d.oneOf(n, at, &kind, string(version.KindSemver), string(version.KindDotted), string(version.KindRegex))
			}},
			{"pattern", false, func(n *yaml.Node, at string) { d.str(n, at, &s.Pattern) }},
		})
		if kind == "" {
			return s
		}
		s.Kind = version.Kind(kind)
	}
	c, err := s.Compile()
	if err != nil {
		d.errorf(n, at, "%v", err)
		return s
	}
	return c
}

// sourceFields says which fields each source kind takes, required first.
var sourceFields = map[SourceKind]struct{ required, optional []string }{
	SourceSNMPGet:  {[]string{"oid"}, []string{"regex"}},
	SourceSNMPWalk: {[]string{"oid", "regex"}, nil},
	SourceConsole:  {[]string{"command", "prompt", "regex"}, nil},
	SourceSMP:      {nil, []string{"image", "regex"}},
	SourceFile:     {[]string{"path", "regex"}, nil},
}

func (d *decoder) source(n *yaml.Node, at string) (Source, bool) {
	var (
		s     Source
		kind  string
		image int64
	)
	kinds := []string{string(SourceSNMPGet), string(SourceSNMPWalk), string(SourceConsole), string(SourceSMP), string(SourceFile)}
	errsHere := len(d.errs)
	given := d.mapping(n, at, []field{
		{"kind", true, func(n *yaml.Node, at string) { d.oneOf(n, at, &kind, kinds...) }},
		{"oid", false, func(n *yaml.Node, at string) { d.oid(n, at, &s.OID) }},
		{"path", false, func(n *yaml.Node, at string) { d.absPath(n, at, &s.Path) }},
		{"command", false, func(n *yaml.Node, at string) { d.str(n, at, &s.Command) }},
		{"prompt", false, func(n *yaml.Node, at string) { d.str(n, at, &s.Prompt) }},
		{"image", false, func(n *yaml.Node, at string) { d.integer(n, at, 0, 255, &image) }},
		{"regex", false, func(n *yaml.Node, at string) { d.regex(n, at, 1, &s.Regexp) }},
	})
	if given == nil || kind == "" {
		return s, false
	}
	s.Kind, s.Image = SourceKind(kind), int(image)
	want := sourceFields[s.Kind]
	for _, f := range want.required {
		if given[f] == nil {
			d.errorf(n, join(at, f), "required for kind %s (it takes %s)", kind, strings.Join(slices.Concat(want.required, want.optional), ", "))
		}
	}
	for _, f := range sortedKeys(given) {
		if k := given[f]; f != "kind" && !slices.Contains(want.required, f) && !slices.Contains(want.optional, f) {
			d.errorf(k, join(at, f), "not used by kind %s (it takes %s)", kind, strings.Join(slices.Concat(want.required, want.optional), ", "))
		}
	}
	if s.OID != "" && !d.readable(given["oid"], join(at, "oid"), s.OID, s.Kind == SourceSNMPWalk) {
		return s, false
	}
	return s, len(d.errs) == errsHere
}

// String renders a version source list for messages.
func (v Version) String() string {
	parts := make([]string, len(v.Sources))
	for i, s := range v.Sources {
		parts[i] = s.String()
	}
	return fmt.Sprintf("%s from %s", v.Scheme, strings.Join(parts, ", then "))
}
