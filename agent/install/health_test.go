package install

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/agent/config"
	"patchbay.dev/boards"
)

func TestChecks(t *testing.T) {
	got := Checks(
		[]boards.HealthCheck{
			{Name: "ubus", Kind: boards.HealthCommand, Command: []string{"/bin/ubus", "call", "system", "board"}, Timeout: 30 * time.Second},
			{Name: "gateway", Kind: boards.HealthMQTTRoundtrip, Timeout: 2 * time.Minute},
		},
		[]config.Check{
			{Name: "portal", URL: "http://127.0.0.1/", Timeout: config.Duration(10 * time.Second)},
			{Name: "script", Command: []string{"/usr/bin/check"}, Timeout: config.Duration(time.Second)},
		})
	want := []Check{
		{Name: "ubus", Kind: CheckCommand, Command: []string{"/bin/ubus", "call", "system", "board"}, Timeout: 30 * time.Second},
		{Name: "gateway", Kind: CheckRoundtrip, Timeout: 2 * time.Minute},
		{Name: "portal", Kind: CheckHTTP, URL: "http://127.0.0.1/", Timeout: 10 * time.Second},
		{Name: "script", Kind: CheckCommand, Command: []string{"/usr/bin/check"}, Timeout: time.Second},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Checks (-want +got):\n%s", diff)
	}
}

func TestRunCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			http.Error(w, "broken", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	errGateway := errors.New("no answer from the gateway")
	tests := []struct {
		name    string
		check   Check
		wantErr string // "" passes
	}{
		{"command passes", Check{Name: "c", Kind: CheckCommand, Command: []string{"true"}}, ""},
		{"command fails with output", Check{Name: "c", Kind: CheckCommand, Command: []string{"sh", "-c", "echo boom >&2; exit 3"}}, "boom"},
		{"command times out", Check{Name: "c", Kind: CheckCommand, Command: []string{"sleep", "5"}, Timeout: 100 * time.Millisecond}, "deadline exceeded"},
		{"missing command", Check{Name: "c", Kind: CheckCommand, Command: []string{"/nonexistent/check"}}, "no such file"},
		{"http 200", Check{Name: "h", Kind: CheckHTTP, URL: srv.URL + "/ok"}, ""},
		{"http any 2xx", Check{Name: "h", Kind: CheckHTTP, URL: srv.URL + "/created"}, ""},
		{"http expected status differs", Check{Name: "h", Kind: CheckHTTP, URL: srv.URL + "/created", ExpectStatus: 200}, "status 201"},
		{"http 500", Check{Name: "h", Kind: CheckHTTP, URL: srv.URL + "/broken"}, "status 500: broken"},
		{"http times out", Check{Name: "h", Kind: CheckHTTP, URL: srv.URL + "/slow", Timeout: 100 * time.Millisecond}, "deadline exceeded"},
		{"round trip", Check{Name: "g", Kind: CheckRoundtrip}, ""},
		{"round trip fails", Check{Name: "g", Kind: CheckRoundtrip}, errGateway.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{http: &http.Client{}, opts: Options{Checks: []Check{tt.check}, Roundtrip: func(context.Context) error {
				if tt.wantErr != "" {
					return errGateway
				}
				return nil
			}}}
			name, err := e.runChecks(t.Context())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("check = %v, want it to pass", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || name != tt.check.Name):
				t.Errorf("check = %s, %v; want %s failing with %q", name, err, tt.check.Name, tt.wantErr)
			}
		})
	}
}

func TestCheckValidate(t *testing.T) {
	tests := []struct {
		name  string
		check Check
		rt    bool
		ok    bool
	}{
		{"command", Check{Name: "a", Kind: CheckCommand, Command: []string{"x"}}, false, true},
		{"no name", Check{Kind: CheckCommand, Command: []string{"x"}}, false, false},
		{"no command", Check{Name: "a", Kind: CheckCommand}, false, false},
		{"ftp", Check{Name: "a", Kind: CheckHTTP, URL: "ftp://x"}, false, false},
		{"round trip without function", Check{Name: "a", Kind: CheckRoundtrip}, false, false},
		{"round trip", Check{Name: "a", Kind: CheckRoundtrip}, true, true},
		{"unknown kind", Check{Name: "a", Kind: "smoke-signal"}, true, false},
	}
	for _, tt := range tests {
		if err := tt.check.validate(tt.rt); (err == nil) != tt.ok {
			t.Errorf("%s: validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestHealthyRetriesUntilDeadline(t *testing.T) {
	calls := 0
	e := &Engine{log: discard(), opts: Options{TrialTimeout: 200 * time.Millisecond, CheckInterval: 10 * time.Millisecond,
		Checks: []Check{{Name: "gw", Kind: CheckRoundtrip}},
		Roundtrip: func(context.Context) error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		}}}
	if name, err := e.healthy(t.Context()); err != nil {
		t.Fatalf("healthy = %s, %v; want a pass on the third round", name, err)
	}
	e.opts.Roundtrip = func(context.Context) error { return errors.New("never") }
	if name, err := e.healthy(t.Context()); name != "gw" || err == nil {
		t.Fatalf("healthy = %q, %v; want gw failing", name, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if name, err := e.healthy(ctx); !errors.Is(err, context.Canceled) || name != "" {
		t.Fatalf("healthy with a stopped agent = %q, %v; want no decision", name, err)
	}
}

func TestCmdlineBooted(t *testing.T) {
	dir := t.TempDir()
	booted := CmdlineBooted(filepath.Join(dir, "cmdline"), "patchbay_slot")
	if _, err := booted(t.Context()); err == nil {
		t.Error("no command line file: no error")
	}
	for _, tt := range []struct{ line, want string }{
		{"console=ttyS0 patchbay_slot=B rootwait\n", "B"},
		{"patchbay_slot=A patchbay_slot=B", "B"},
		{"xpatchbay_slot=A", ""},
	} {
		if err := atomicfile.WriteFile(filepath.Join(dir, "cmdline"), []byte(tt.line), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := booted(t.Context())
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("booted from %q = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}
