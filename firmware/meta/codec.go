package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrNoMetadata means a target's custom field has no "patchbay" object: the
// target was not published for Patchbay devices.
var ErrNoMetadata = errors.New("no patchbay metadata in target custom field")

// Decode reads the patchbay object out of the custom field of a TUF target
// as it appears in targets.json ({"patchbay": {...}, ...}). Keys beside
// "patchbay" are other tools' and are ignored; inside it, unknown fields,
// wrong types and invalid values are errors naming the field. The result
// has passed Validate.
func Decode(custom []byte) (Target, error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(custom, &outer); err != nil {
		return Target{}, fmt.Errorf("target custom field: %w", err)
	}
	raw, ok := outer[CustomKey]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return Target{}, ErrNoMetadata
	}
	return decodeObject(raw)
}

func decodeObject(raw json.RawMessage) (Target, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Target{}, fmt.Errorf("%s: want an object: %w", CustomKey, err)
	}
	var t Target
	dst := fieldTargets(&t)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		p, known := dst[name]
		if !known {
			errs = append(errs, &FieldError{Field: name, Problem: "unknown field (known: " + knownFields() + ")"})
			continue
		}
		if err := json.Unmarshal(fields[name], p); err != nil {
			errs = append(errs, &FieldError{Field: name, Problem: jsonProblem(err)})
		}
	}
	if len(errs) > 0 {
		return Target{}, errors.Join(errs...)
	}
	if err := t.Validate(); err != nil {
		return Target{}, err
	}
	return t, nil
}

// fieldTargets maps each JSON field name of Target to a pointer into t.
func fieldTargets(t *Target) map[string]any {
	v := reflect.ValueOf(t).Elem()
	m := make(map[string]any, v.NumField())
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		m[name] = v.Field(i).Addr().Interface()
	}
	return m
}

func knownFields() string {
	names := make([]string, 0, 16)
	for name := range fieldTargets(&Target{}) {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := te.Type.Kind().String()
		switch te.Type.Kind() {
		case reflect.Slice:
			want = "list of " + te.Type.Elem().Kind().String()
		case reflect.Struct:
			want = "string YYYY-MM-DD"
		}
		return fmt.Sprintf("got JSON %s, want %s", te.Value, want)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Encode renders t as the custom field of its TUF target:
// {"patchbay": {...}}. It refuses a Target that does not Validate.
// The output has no floating-point numbers, as TUF's canonical JSON needs.
func Encode(t Target) (json.RawMessage, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(map[string]Target{CustomKey: t})
	if err != nil {
		return nil, fmt.Errorf("encode patchbay metadata: %w", err)
	}
	return b, nil
}

// DecodeYAML reads the release engineer's metadata file: one YAML document
// whose only top-level key is "patchbay", holding the same fields as the
// JSON form (dates may be written unquoted: eol: 2027-06-30). Unknown
// fields are errors with their line. The result has passed Validate.
func DecodeYAML(r io.Reader) (Target, error) {
	var doc struct {
		Patchbay *Target `yaml:"patchbay"`
	}
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Target{}, errors.New("metadata file is empty (want a patchbay: mapping)")
		}
		return Target{}, fmt.Errorf("metadata file: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Target{}, errors.New("metadata file: more than one YAML document")
	}
	if doc.Patchbay == nil {
		return Target{}, errors.New("metadata file: no patchbay: mapping at the top level")
	}
	if err := doc.Patchbay.Validate(); err != nil {
		return Target{}, err
	}
	return *doc.Patchbay, nil
}
