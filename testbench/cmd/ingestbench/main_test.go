package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestRun runs a small benchmark through the real command line: both
// phases, and the store check at the end of the ingest.
func TestRun(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"round robin", nil},
		{"burst", []string{"-burst", "-max-batch", "64", "-max-inflight", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"-devices", "60", "-events", "4", "-connections", "7", "-inflight", "5", "-publishers", "2", "-timeout", "2m", "-json"}, tt.args...)
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run %q: %v\nstderr:\n%s", args, err, stderr.String())
			}
			var r result
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			if r.Ceiling.Messages != 240 || r.Ceiling.PerSecond <= 0 {
				t.Errorf("ceiling = %+v, want 240 messages at some rate", r.Ceiling)
			}
			i := r.Ingest
			if i.Devices != 60 || i.Events != 240 || i.PerSecond <= 0 || i.Counters.Stored < 240 || i.Counters.Malformed != 0 {
				t.Errorf("ingest = %+v, want 60 devices' 240 events stored at some rate", i)
			}
			if r.Ratio <= 0 {
				t.Errorf("ratio = %v, want > 0", r.Ratio)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-devices", "0"},
		{"-resend-after", "0s"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), args, &stdout, &stderr)
		if err == nil {
			t.Errorf("run %q = nil error, want one", args)
		}
		if strings.Contains(stderr.String(), "ceiling:") {
			t.Errorf("run %q started measuring: %s", args, stderr.String())
		}
	}
}

func TestDeviceNumber(t *testing.T) {
	for _, n := range []int{0, 1, 9999} {
		if got, ok := deviceNumber(deviceID(n)); !ok || got != n {
			t.Errorf("deviceNumber(%q) = %d, %v; want %d, true", deviceID(n), got, ok, n)
		}
	}
	for _, id := range []string{"dev-x", "other-00001", "dev-00000", ""} {
		if _, ok := deviceNumber(id); ok {
			t.Errorf("deviceNumber(%q) succeeded, want false", id)
		}
	}
}
