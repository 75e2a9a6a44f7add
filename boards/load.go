package boards

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// embedded holds the profiles shipped in every binary.
//
//go:embed profiles/*.yaml
var embedded embed.FS

// maxProfileSize bounds one profile file; real ones are a few KiB.
const maxProfileSize = 256 << 10

// Set is a loaded, checked collection of profiles with unique IDs. It is
// immutable and safe for concurrent use.
type Set struct {
	profiles []*Profile // by ID
	byID     map[string]*Profile
}

// Profiles returns the profiles ordered by ID.
func (s *Set) Profiles() []*Profile { return slices.Clone(s.profiles) }

// Lookup returns the profile with the given ID.
func (s *Set) Lookup(id string) (*Profile, bool) {
	p, ok := s.byID[id]
	return p, ok
}

// Len is the number of profiles.
func (s *Set) Len() int { return len(s.profiles) }

// NewSet makes a set of profiles, which must have distinct IDs.
func NewSet(profiles ...*Profile) (*Set, error) {
	s := &Set{byID: make(map[string]*Profile, len(profiles))}
	var errs []error
	for _, p := range profiles {
		if prev, dup := s.byID[p.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: profile id %q is already used by %s", p.Source, p.ID, prev.Source))
			continue
		}
		s.byID[p.ID] = p
		s.profiles = append(s.profiles, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(s.profiles, func(a, b *Profile) int { return strings.Compare(a.ID, b.ID) })
	return s, nil
}

// Embedded returns the profiles built into the binary.
func Embedded() (*Set, error) { return Load() }

// Load returns the embedded profiles together with the profiles in each
// operator directory (its *.yaml and *.yml files, not subdirectories). A
// directory's profile with the ID of an earlier one replaces it, so later
// directories override earlier ones and all override the embedded set;
// two profiles with one ID in the same directory are an error. Every
// problem in every file is reported, joined; see ProfileError.
func Load(dirs ...string) (*Set, error) {
	profiles, errs := loadFS(embedded, "profiles", "embedded:profiles")
	byID := make(map[string]int, len(profiles))
	for i, p := range profiles {
		byID[p.ID] = i
	}
	for _, dir := range dirs {
		info, err := os.Stat(dir)
		if err == nil && !info.IsDir() {
			err = fmt.Errorf("%s is not a directory", dir)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("load board profiles: %w", err))
			continue
		}
		more, dirErrs := loadFS(os.DirFS(dir), ".", dir)
		errs = append(errs, dirErrs...)
		for _, p := range more {
			if i, ok := byID[p.ID]; ok {
				p.Overrides = profiles[i].Source
				profiles[i] = p
				continue
			}
			byID[p.ID] = len(profiles)
			profiles = append(profiles, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSet(profiles...)
}

// loadFS parses the profiles in dir of fsys; label names the directory in
// messages.
func loadFS(fsys fs.FS, dir, label string) ([]*Profile, []error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, []error{fmt.Errorf("load board profiles from %s: %w", label, err)}
	}
	var (
		profiles []*Profile
		errs     []error
		byID     = make(map[string]*Profile)
	)
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || ext != ".yaml" && ext != ".yml" {
			continue
		}
		name := filepath.Join(label, e.Name())
		data, err := readLimited(fsys, path.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, &ProfileError{File: name, Msg: err.Error()})
			continue
		}
		p, err := ParseProfile(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := byID[p.ID]; dup {
			errs = append(errs, &ProfileError{File: name, Line: lineOf(p.Source), Field: "id",
				Msg: fmt.Sprintf("%q is already the id of %s; ids are unique within a directory", p.ID, prev.Source)})
			continue
		}
		byID[p.ID] = p
		profiles = append(profiles, p)
	}
	return profiles, errs
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxProfileSize {
		return nil, fmt.Errorf("larger than %d KiB; a profile is a few KiB", maxProfileSize>>10)
	}
	return data, nil
}

func lineOf(source string) int {
	i := strings.LastIndexByte(source, ':')
	n, _ := strconv.Atoi(source[i+1:])
	return n
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// ParseProfile decodes and checks one profile, the only YAML document of
// data; name (usually the file's path) is used in messages. Unknown fields
// are errors. It returns every problem found, joined, each a *ProfileError
// naming the file, line and field.
func ParseProfile(name string, data []byte) (*Profile, error) {
	if len(data) > maxProfileSize {
		return nil, &ProfileError{File: name, Msg: fmt.Sprintf("larger than %d KiB; a profile is a few KiB", maxProfileSize>>10)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ProfileError{File: name, Msg: "empty file; want one profile, a mapping starting with id:"}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &ProfileError{File: name, Line: extra.Line, Msg: "a second YAML document; put one profile in each file"}
	case !errors.Is(err, io.EOF):
		return nil, yamlError(name, err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	d := &decoder{file: name}
	p := d.profile(root)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return p, nil
}

func yamlError(name string, err error) error {
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return &ProfileError{File: name, Line: line, Msg: "bad YAML: " + msg}
}
