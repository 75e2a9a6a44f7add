package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"patchbay.dev/firmware/bootenv"
)

// TestMain lets the test binary be the campaign's agent process: the
// campaign starts itself ("agent" as the first argument).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "powercut agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var summary = regexp.MustCompile(`^(\d+) cuts, (\d+) bricked, (\d+) resumed, (\d+) rolled back, (\d+) committed\n$`)

// TestCampaign runs a short campaign: 40 power cuts, none may brick the
// device or end an update wrongly.
func TestCampaign(t *testing.T) {
	start := time.Now()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-n", "40", "-seed", "7"}, &stdout, &stderr)
	t.Logf("campaign took %s:\n%s%s", time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("campaign: %v", err)
	}
	m := summary.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("summary line %q does not read \"N cuts, B bricked, R resumed, K rolled back, C committed\"", stdout.String())
	}
	if m[1] != "40" || m[2] != "0" {
		t.Errorf("summary %q: want 40 cuts, 0 bricked", m[0])
	}
	if m[5] == "0" || m[4] == "0" {
		t.Errorf("summary %q: want both commits and roll-backs", m[0])
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-cut-rate", "0"}, {"-max-image", "9000000"}, {"extra"}} {
		var out bytes.Buffer
		if err := run(t.Context(), args, &out, &out); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}

func TestPhaseOf(t *testing.T) {
	ev := func(line string) event { return parseEvent(line) }
	tests := []struct {
		events []event
		phase  string
		env    string
	}{
		{nil, "start", ""},
		{[]event{ev("S\tinstall"), ev("P\tdownloading\t0\t10")}, "downloading", ""},
		{[]event{ev("P\tswitching\t10\t10"), ev("W\tenv\t/d/uboot-redund.env")}, "switching+env-write", "/d/uboot-redund.env"},
		{[]event{ev("P\tswitching\t10\t10"), ev("W\tenv\t/d/e"), ev("D\tenv"), ev("P\trebooting\t10\t10"), ev("B\t")}, "reboot-asked", ""},
		{[]event{ev("P\tcommitted\t10\t10"), ev("R\tcommitted\tinstalled")}, "reported", ""},
	}
	for _, tt := range tests {
		if got := phaseOf(tt.events); got != tt.phase {
			t.Errorf("phaseOf(%v) = %q, want %q", tt.events, got, tt.phase)
		}
		if got := envInFlight(tt.events); got != tt.env {
			t.Errorf("envInFlight(%v) = %q, want %q", tt.events, got, tt.env)
		}
	}
}

func TestChanges(t *testing.T) {
	env, err := bootenv.NewEnv(map[string]string{"a": "1", "b": "2"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c    bootenv.Changes
		want bool
	}{
		{bootenv.Changes{"a": new("1")}, false},
		{bootenv.Changes{"a": new("2")}, true},
		{bootenv.Changes{"c": nil}, false},
		{bootenv.Changes{"b": nil}, true},
		{bootenv.Changes{"c": new("")}, true},
	}
	for _, tt := range tests {
		if got := changes(env, tt.c); got != tt.want {
			t.Errorf("changes(%v) = %v, want %v", tt.c, got, tt.want)
		}
	}
}
