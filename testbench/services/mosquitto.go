package services

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// MosquittoConfig says how to configure a broker. The zero value is a
// plain-TCP broker that accepts anonymous clients, keeps nothing on disk and
// never drops queued QoS 1 messages.
type MosquittoConfig struct {
	// TLS, when set, makes the listener speak MQTT over TLS.
	TLS *MosquittoTLS
	// DenyAnonymous refuses clients without a username (from a password
	// file, or from the certificate with TLS.UseIdentityAsUsername).
	DenyAnonymous bool
	// PasswordFile is a mosquitto_passwd file; empty for none.
	PasswordFile string
	// ACLFile is a mosquitto ACL file; empty for none (all topics open).
	ACLFile string
	// Persistence keeps sessions, subscriptions and queued messages in
	// Dir/data across restarts. The broker saves after every change, so
	// that even Kill loses nothing it acknowledged.
	Persistence bool
	// MaxQueuedMessages is the number of QoS 1 and 2 messages queued per
	// client beyond those in flight; 0 means no practical limit
	// (unlimitedQueue). mosquitto's own default is 1000, beyond which it
	// drops messages for a slow or offline subscriber; Patchbay's brokers
	// must not, so tests run without a limit unless they set one to
	// provoke drops.
	MaxQueuedMessages int
	// MaxInflightMessages is the number of QoS 1 and 2 messages in flight
	// per client; 0 leaves mosquitto's default (20).
	MaxInflightMessages int
	// Extra lines are appended to the configuration file as they are.
	Extra []string
}

// MosquittoTLS is the TLS side of a broker's listener.
type MosquittoTLS struct {
	CAFile   string // PEM CA certificates that client certificates must chain to
	CertFile string // PEM server certificate; its SANs should include 127.0.0.1
	KeyFile  string // PEM private key of CertFile
	// RequireClientCert refuses clients without a certificate signed by CAFile.
	RequireClientCert bool
	// UseIdentityAsUsername makes a client certificate's Common Name the
	// client's username, which ACL patterns (%u) then confine.
	UseIdentityAsUsername bool
}

// unlimitedQueue stands for "no limit" in max_queued_messages.
// mosquitto's own 0, documented as no limit, is broken throughout 2.0.x
// (2.0.11 in Debian 12 included): it drops QoS 0 messages and disconnects
// a client whose PUBLISH the ACL denies (mosquitto issues #1956, #2879,
// #3088, #3244). Production broker configurations should avoid it too.
const unlimitedQueue = 1_000_000

// Mosquitto is a running (or stopped) mosquitto broker.
type Mosquitto struct {
	Addr string // "127.0.0.1:PORT", the same across restarts
	URL  string // "tcp://127.0.0.1:PORT" or, with TLS, "ssl://127.0.0.1:PORT"
	Dir  string // configuration, log and, with Persistence, data/

	t       testing.TB
	binary  string
	conf    string
	logPath string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartMosquitto starts a broker on 127.0.0.1 and returns once it accepts
// connections. It is stopped when the test ends.
func StartMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	binary, err := lookBinary("mosquitto", "mosquitto", "/usr/sbin")
	if err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	dir := t.TempDir()
	m := &Mosquitto{
		Dir:     dir,
		t:       t,
		binary:  binary,
		conf:    filepath.Join(dir, "mosquitto.conf"),
		logPath: filepath.Join(dir, "mosquitto.log"),
	}
	t.Cleanup(m.Stop)
	if cfg.Persistence {
		if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatalf("start mosquitto: %v", err)
		}
	}
	scheme := "tcp"
	if cfg.TLS != nil {
		scheme = "ssl"
	}
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		port, err := freeTCPPort()
		if err != nil {
			t.Fatalf("start mosquitto: %v", err)
		}
		if err := os.WriteFile(m.conf, []byte(mosquittoConf(cfg, dir, port)), 0o600); err != nil {
			t.Fatalf("start mosquitto: %v", err)
		}
		m.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		m.URL = scheme + "://" + m.Addr
		err = m.start(ctx)
		if err == nil {
			return m
		}
		if attempt == startAttempts || !strings.Contains(readTail(m.logPath), "already in use") {
			t.Fatalf("start mosquitto on %s: %v\nconfig %s:\n%s\nlog:\n%s", m.Addr, err, m.conf, readFile(m.conf), readTail(m.logPath))
		}
	}
}

// mosquittoConf renders the configuration file.
func mosquittoConf(cfg MosquittoConfig, dir string, port int) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# written by patchbay.dev/testbench/services")
	// As root mosquitto would switch to the user "mosquitto", which can
	// neither read a test's files nor keep its parent-death signal.
	if os.Geteuid() == 0 {
		line("user root")
	}
	line("log_dest stderr") // unbuffered, unlike stdout to a file
	line("log_type all")
	line("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S")
	queued := cfg.MaxQueuedMessages
	if queued == 0 {
		queued = unlimitedQueue
	}
	line("max_queued_messages %d", queued)
	line("max_queued_bytes 0")
	if cfg.MaxInflightMessages != 0 {
		line("max_inflight_messages %d", cfg.MaxInflightMessages)
	}
	if cfg.Persistence {
		line("persistence true")
		line("persistence_location %s/", filepath.Join(dir, "data"))
		line("autosave_on_changes true")
		line("autosave_interval 1")
	} else {
		line("persistence false")
	}
	line("listener %d 127.0.0.1", port)
	line("allow_anonymous %t", !cfg.DenyAnonymous)
	if cfg.PasswordFile != "" {
		line("password_file %s", cfg.PasswordFile)
	}
	if cfg.ACLFile != "" {
		line("acl_file %s", cfg.ACLFile)
	}
	if tls := cfg.TLS; tls != nil {
		line("cafile %s", tls.CAFile)
		line("certfile %s", tls.CertFile)
		line("keyfile %s", tls.KeyFile)
		line("require_certificate %t", tls.RequireClientCert)
		line("use_identity_as_username %t", tls.UseIdentityAsUsername)
	}
	for _, l := range cfg.Extra {
		line("%s", l)
	}
	return b.String()
}

// start runs mosquitto with the configuration file and waits until it
// accepts a connection.
func (m *Mosquitto) start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.proc.exited() {
		return fmt.Errorf("mosquitto on %s is already running", m.Addr)
	}
	// A fresh log per run, so a failure quotes this run only.
	if err := os.Remove(m.logPath); err != nil && !os.IsNotExist(err) {
		return err
	}
	cmd := exec.Command(m.binary, "-c", m.conf)
	cmd.Dir = m.Dir
	p, err := startProcess("mosquitto", m.logPath, cmd, nil)
	if err != nil {
		return err
	}
	m.proc = p
	// mosquitto logs "running" once its listeners are open; a connection
	// alone could reach whoever else holds the port.
	err = p.waitReady(ctx, func(ctx context.Context) error {
		if !strings.Contains(readTail(m.logPath), " running") {
			return fmt.Errorf("no \"running\" line in the log yet")
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", m.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		_ = p.kill()
		m.proc = nil
		return err
	}
	return nil
}

// Start starts a stopped broker again on the same port with the same
// configuration and, with Persistence, the same data. It must be called
// from the test's goroutine.
func (m *Mosquitto) Start() {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.t.Context(), readyTimeout)
	defer cancel()
	if err := m.start(ctx); err != nil {
		m.t.Fatalf("restart mosquitto on %s: %v\nlog:\n%s", m.Addr, err, readTail(m.logPath))
	}
}

// Stop shuts the broker down cleanly (SIGTERM; it saves its data), killing
// it if it takes longer than a few seconds. Stopping a stopped broker does
// nothing.
func (m *Mosquitto) Stop() { m.halt(syscall.SIGTERM) }

// Kill kills the broker at once (SIGKILL), as a power cut would.
func (m *Mosquitto) Kill() { m.halt(syscall.SIGKILL) }

func (m *Mosquitto) halt(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	if err := m.proc.stop(sig); err != nil {
		m.t.Errorf("stop mosquitto on %s: %v", m.Addr, err)
	}
	m.proc = nil
}

// Log returns the end of the broker's log.
func (m *Mosquitto) Log() string { return readTail(m.logPath) }

// readFile returns a small file's content for a failure message.
func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
