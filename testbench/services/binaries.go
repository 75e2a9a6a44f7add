package services

import (
	"cmp"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MissingBinaryError reports a program a service needs that is not
// installed, with the Debian package that provides it.
type MissingBinaryError struct {
	Binary  string // e.g. "mosquitto"
	Package string // e.g. "mosquitto"
	Looked  string // where it was looked for
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("%s not found in %s: install the Debian package %s (apt-get install %s)",
		e.Binary, e.Looked, e.Package, e.Package)
}

// lookBinary finds name in PATH or in the directories Debian installs it to
// that are not in every user's PATH (/usr/sbin for mosquitto and snmpd).
func lookBinary(name, pkg string, dirs ...string) (string, error) {
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, dir := range dirs {
		if path, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return path, nil
		}
	}
	return "", &MissingBinaryError{Binary: name, Package: pkg, Looked: strings.Join(append([]string{"PATH"}, dirs...), ", ")}
}

// lookPostgres finds the directory holding initdb and postgres: the one of
// an initdb in PATH, else the newest /usr/lib/postgresql/VERSION/bin, where
// Debian installs them outside PATH.
func lookPostgres() (string, error) {
	if path, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		return filepath.Dir(path), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(b), version(a)) })
	for _, dir := range dirs {
		if _, err := exec.LookPath(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", &MissingBinaryError{Binary: "initdb", Package: "postgresql", Looked: "PATH, /usr/lib/postgresql/*/bin"}
}
