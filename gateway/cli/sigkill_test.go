package cli_test

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"patchbay.dev/gateway/ingest/ingesttest"
	"patchbay.dev/gateway/store/sqlite"
	"patchbay.dev/testbench/services"
)

// buildGateway builds the patchbay-gateway binary into a temporary
// directory.
func buildGateway(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "patchbay-gateway")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, "patchbay.dev/gateway/cmd/patchbay-gateway")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build patchbay-gateway: %v\n%s", err, out)
	}
	return bin
}

// child is the gateway running as a child process.
type child struct {
	cmd  *exec.Cmd
	done chan error // receives cmd.Wait's result
}

// startChild runs the gateway binary with args and waits until it is
// healthy. The test's cleanup kills it if it still runs.
func startChild(t *testing.T, bin, logPath, httpAddr string, args ...string) *child {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--http-listen", httpAddr}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() { c.kill(t) })
	waitHealthy(t, httpAddr, c.done)
	return c
}

// kill kills the gateway with SIGKILL, as a power cut would, and reaps it.
func (c *child) kill(t *testing.T) {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Errorf("gateway pid %d still running 10s after SIGKILL", c.cmd.Process.Pid)
	}
}

// stop asks the gateway to stop with SIGTERM and returns its exit error.
func (c *child) stop(t *testing.T) error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		return err
	case <-time.After(20 * time.Second):
		c.kill(t)
		return errors.New("gateway ignored SIGTERM for 20s; killed")
	}
}

// TestGatewayKilledDuringIngest kills the gateway process with SIGKILL
// while a device streams events through mosquitto into a SQLite file, and
// starts it again. The device does what the agent does: it keeps every
// event until the gateway's ack covers it and re-sends the rest. Nothing
// the device sent is lost, and nothing is stored twice.
func TestGatewayKilledDuringIngest(t *testing.T) {
	const total = 600
	bin := buildGateway(t)
	m := services.StartMosquitto(t, services.MosquittoConfig{})
	dir := t.TempDir()
	db, logPath, httpAddr := filepath.Join(dir, "fleet.db"), filepath.Join(dir, "gateway.log"), freeAddr(t)
	args := []string{"--store", db, "--broker", m.URL, "--client-id", "gw-kill", "--log-level", "info"}
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("gateway log:\n%s", b)
		}
	}()

	gw := startChild(t, bin, logPath, httpAddr, args...)
	d := ingesttest.Connect(t, m.URL, nil, "acme", "rtr-1")
	for d.Seq() < total/2 {
		d.Send(t, 10)
		time.Sleep(5 * time.Millisecond)
		if d.Ack() >= 100 && gw.cmd.ProcessState == nil {
			gw.kill(t) // mid-stream: events in flight, some stored, some not acknowledged
			t.Logf("gateway killed at ack %d with %d events sent", d.Ack(), d.Seq())
		}
	}
	if gw.cmd.ProcessState == nil {
		t.Fatalf("the gateway was not killed mid-stream: ack %d of %d", d.Ack(), d.Seq())
	}
	for d.Seq() < total { // the device goes on while the gateway is down
		d.Send(t, 10)
	}
	gw = startChild(t, bin, logPath, httpAddr, args...)
	d.WaitAck(t, time.Second, 60*time.Second)

	v := getDevice(t, httpAddr, "acme", "rtr-1", total)
	var seqs []uint64
	for _, e := range v.Events {
		seqs = append(seqs, e.Event.Seq)
	}
	want := make([]uint64, total)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if v.Device.AckSeq != total || !slices.Equal(seqs, want) {
		t.Errorf("after SIGKILL and restart: ack %d, events %v; want ack %d and 1..%d", v.Device.AckSeq, seqs, total, total)
	}
	if err := gw.stop(t); err != nil {
		t.Errorf("gateway stopped with SIGTERM: %v, want exit status 0", err)
	}
	st, err := sqlite.Open(t.Context(), db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.Stats(t.Context())
	if err != nil || stats.Events != total {
		t.Errorf("store holds %d events (%v), want each of the %d once", stats.Events, err, total)
	}
}
