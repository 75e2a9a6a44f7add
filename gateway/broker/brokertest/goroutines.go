package brokertest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// NoGoroutines fails the test if goroutines whose stacks mention any of
// pkgs (import paths, e.g. "github.com/mochi-mqtt/server") are still
// running a few seconds after it is called, other than the caller's. Call
// it after stopping what started them; tests using it must not run in
// parallel with others that start the same packages.
func NoGoroutines(t testing.TB, pkgs ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := goroutines(pkgs)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines left behind:\n\n%s", len(left), strings.Join(left, "\n\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func goroutines(pkgs []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := bytes.Split(buf, []byte("\n\n"))
	var out []string
	for _, s := range stacks[1:] { // the first is the caller's
		for _, p := range pkgs {
			if bytes.Contains(s, []byte(p)) {
				out = append(out, string(s))
				break
			}
		}
	}
	return out
}
