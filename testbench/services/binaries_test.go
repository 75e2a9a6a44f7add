package services

import (
	"errors"
	"strings"
	"testing"
)

// A missing program fails with the Debian package that provides it.
func TestMissingBinary(t *testing.T) {
	_, err := lookBinary("patchbay-no-such-program", "patchbay-no-such-package", "/usr/sbin")
	var missing *MissingBinaryError
	if !errors.As(err, &missing) {
		t.Fatalf("lookBinary = %v, want a *MissingBinaryError", err)
	}
	for _, want := range []string{"patchbay-no-such-program", "apt-get install patchbay-no-such-package", "/usr/sbin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, name := range []string{"mosquitto", "snmpd", "socat"} {
		if _, err := lookBinary(name, name, "/usr/sbin"); err != nil {
			t.Errorf("%v", err)
		}
	}
	if _, err := lookPostgres(); err != nil {
		t.Errorf("%v", err)
	}
}
