package services

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// mainRunning is set while Main runs the tests.
var mainRunning atomic.Bool

// Main runs a test binary's tests with the services that outlive a single
// test. Call it from TestMain:
//
//	func TestMain(m *testing.M) { services.Main(m) }
//
// It stops the PostgreSQL server the tests shared after the last test, and
// fails the binary if a process started by the tests is still running then.
// When snmpd runs the test binary as its pass_persist helper (StartSNMPD
// with Vars), Main serves the variables instead of running tests.
func Main(m *testing.M) {
	if path := os.Getenv(snmpVarsEnv); path != "" {
		if err := runPassPersist(path); err != nil {
			fmt.Fprintf(os.Stderr, "snmpd pass_persist helper: %v\n", err)
			os.Exit(1)
		}
		return
	}
	mainRunning.Store(true)
	code := m.Run()
	mainRunning.Store(false)
	if err := stopSharedPostgres(); err != nil {
		fmt.Fprintf(os.Stderr, "services: %v\n", err)
		code = max(code, 1)
	}
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "services: processes left behind by the tests:\n\t%s\n", strings.Join(left, "\n\t"))
		code = max(code, 1)
	}
	if code != 0 {
		os.Exit(code)
	}
}
