package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"patchbay.dev/gateway/broker"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store/sqlite"
)

// startGateway runs the embedded broker with development authentication
// and an ingester into SQLite, as "patchbay-gateway serve
// --insecure-dev-auth" does, and returns the broker's URL.
func startGateway(t *testing.T) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fleet.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Config{Addr: "127.0.0.1:0", InsecureDevAuth: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(ingest.Config{Store: st, Publisher: b, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { in.Run(ctx) })
	t.Cleanup(func() {
		b.Close()
		cancel()
		wg.Wait()
		st.Close()
	})
	if err := ingest.SubscribeInline(ctx, b, in); err != nil {
		t.Fatal(err)
	}
	return "tcp://" + b.Addr().String()
}

func TestRun(t *testing.T) {
	url := startGateway(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-broker", url, "-devices", "20", "-events", "3", "-connect", "100ms", "-settle", "0s",
		"-measure-pid", fmt.Sprint(os.Getpid()), "-json"}
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run %q: %v\nstderr:\n%s", args, err, stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if f := res.Fleet; f.Devices != 20 || f.Connected != 20 || f.Acked != 60 || f.Done != 20 || f.Online != 0 {
		t.Errorf("fleet = %+v, want 20 devices connected, done and gone, 60 events acknowledged", f)
	}
	if res.PID != os.Getpid() || res.RSSBeforeKiB <= 0 || res.RSSAfterKiB <= 0 || res.ThreadsAfter <= 0 {
		t.Errorf("memory of process %d: %+v, want RSS before and after, and threads", os.Getpid(), res)
	}
}

func TestRunRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-devices", "0"},
		{"-log-level", "loud"},
		{"extra"},
		{"-measure-pid", "-1"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stderr); err == nil {
			t.Errorf("run %q = nil error, want one", args)
		}
	}
}
