package bootenv

import (
	"bytes"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
)

// Env is a set of U-Boot environment variables. The zero value is an
// empty environment ready to use.
type Env struct {
	vars map[string]string
}

// NewEnv returns an environment holding vars. It fails with
// ErrInvalidName if a name or value cannot be stored.
func NewEnv(vars map[string]string) (Env, error) {
	var e Env
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if err := e.Set(name, vars[name]); err != nil {
			return Env{}, err
		}
	}
	return e, nil
}

// Get returns the value of the variable name and whether it is set.
func (e Env) Get(name string) (string, bool) {
	v, ok := e.vars[name]
	return v, ok
}

// Set sets the variable name to value. An empty value is stored as
// "name=", as fw_setenv stores it; Delete removes a variable.
func (e *Env) Set(name, value string) error {
	if err := checkVar(name, value); err != nil {
		return err
	}
	if e.vars == nil {
		e.vars = map[string]string{}
	}
	e.vars[name] = value
	return nil
}

// Delete removes the variable name; removing an unset one is no error.
func (e *Env) Delete(name string) { delete(e.vars, name) }

// Len returns the number of variables.
func (e Env) Len() int { return len(e.vars) }

// Names returns the names of the variables, sorted as they are stored.
func (e Env) Names() []string { return slices.Sorted(maps.Keys(e.vars)) }

// All iterates over the variables in stored (sorted) order.
func (e Env) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, name := range e.Names() {
			if !yield(name, e.vars[name]) {
				return
			}
		}
	}
}

// Clone returns a copy that does not share storage with e.
func (e Env) Clone() Env { return Env{vars: maps.Clone(e.vars)} }

// Equal reports whether e and o hold the same variables and values.
func (e Env) Equal(o Env) bool { return maps.Equal(e.vars, o.vars) }

// Map returns the variables as a new map.
func (e Env) Map() map[string]string {
	m := maps.Clone(e.vars)
	if m == nil {
		m = map[string]string{}
	}
	return m
}

// String renders the environment as fw_printenv prints it: one
// "name=value" per line, sorted.
func (e Env) String() string {
	var b strings.Builder
	for name, value := range e.All() {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	return b.String()
}

// checkVar returns an error wrapping ErrInvalidName if name=value cannot be
// stored: U-Boot splits an entry at its first '=' and ends it at NUL.
func checkVar(name, value string) error {
	switch {
	case name == "":
		return fmt.Errorf("bootenv: empty variable name: %w", ErrInvalidName)
	case strings.ContainsAny(name, "=\x00"):
		return fmt.Errorf("bootenv: variable name %q contains '=' or NUL: %w", name, ErrInvalidName)
	case strings.ContainsRune(value, 0):
		return fmt.Errorf("bootenv: value of %s contains NUL: %w", name, ErrInvalidName)
	}
	return nil
}

// Changes is what Store.Apply writes in one go: each name maps to its new
// value, or to nil to delete the variable. With Go 1.26's new(expr):
//
//	bootenv.Changes{"bootcount": new("0"), "upgrade_available": new("0")}
type Changes map[string]*string

// Set records that name becomes value.
func (c Changes) Set(name, value string) { c[name] = &value }

// Delete records that name is removed.
func (c Changes) Delete(name string) { c[name] = nil }

// applyTo returns env with the changes made, refusing changes to variables
// that .flags protect.
func (c Changes) applyTo(env Env) (Env, error) {
	next := env.Clone()
	protected := readOnlyVars(env)
	for _, name := range slices.Sorted(maps.Keys(c)) {
		v := c[name]
		old, exists := env.Get(name)
		changes := exists && (v == nil || *v != old)
		if access, ok := protected[name]; ok && changes {
			return Env{}, fmt.Errorf("bootenv: %s is %s by .flags: %w", name, access, ErrReadOnly)
		}
		if v == nil {
			next.Delete(name)
			continue
		}
		if err := next.Set(name, *v); err != nil {
			return Env{}, err
		}
	}
	return next, nil
}

// flagsVar is U-Boot's variable of per-variable type and access flags:
// "name:ta,name:ta", t one of s d x b i m, a one of a r o c.
const flagsVar = ".flags"

// readOnlyVars returns the variables .flags mark read-only or write-once,
// with how. Malformed entries are skipped, as U-Boot skips them.
func readOnlyVars(env Env) map[string]string {
	spec, ok := env.Get(flagsVar)
	if !ok {
		return nil
	}
	ro := map[string]string{}
	for entry := range strings.SplitSeq(spec, ",") {
		name, attrs, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || name == "" {
			continue
		}
		switch {
		case strings.ContainsRune(attrs, 'r'):
			ro[name] = "read-only"
		case strings.ContainsRune(attrs, 'o'):
			ro[name] = "write-once"
		}
	}
	return ro
}

// encodeData renders env into a data area of n bytes: entries sorted by
// name, each "name=value\0", then the terminating empty entry, padded with
// NULs as fw_setenv pads.
func encodeData(env Env, n int) ([]byte, error) {
	need := 1
	for name, value := range env.vars {
		need += len(name) + len(value) + 2
	}
	if need > n {
		return nil, fmt.Errorf("bootenv: %d variables need %d bytes, the data area has %d: %w", env.Len(), need, n, ErrNoSpace)
	}
	b := make([]byte, 0, n)
	for name, value := range env.All() {
		b = append(b, name...)
		b = append(b, '=')
		b = append(b, value...)
		b = append(b, 0)
	}
	return b[:n], nil
}

// decodeData parses a data area as libubootenv does: entries up to the
// first empty one, the last of duplicate names winning, entries without
// '=' ignored. A data area whose entries run to its end without the empty
// entry is corrupt.
func decodeData(b []byte) (Env, error) {
	env := Env{vars: map[string]string{}}
	for off := 0; off < len(b); {
		if b[off] == 0 {
			return env, nil
		}
		end := bytes.IndexByte(b[off:], 0)
		if end < 0 {
			break
		}
		entry := b[off : off+end]
		if name, value, ok := bytes.Cut(entry, []byte("=")); ok {
			env.vars[string(name)] = string(value)
		}
		off += end + 1
	}
	return Env{}, fmt.Errorf("bootenv: data area of %d bytes has no terminating empty entry: %w", len(b), ErrCorrupt)
}
