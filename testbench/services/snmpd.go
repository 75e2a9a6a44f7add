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
	"time"

	"github.com/gosnmp/gosnmp"

	"patchbay.dev/boards"
)

// SNMPDConfig says what an snmpd serves and to whom.
type SNMPDConfig struct {
	// Community is the SNMPv2c read-only community. Empty means "public",
	// or no SNMPv2c access at all when V3 is set.
	Community string
	// V3 adds an SNMPv3 USM user with read-only access.
	V3 *SNMPDUser
	// Vars, when not empty, are the only variables served (a device's
	// recording), besides the agent's own SNMPv3 tables under
	// 1.3.6.1.6.3. They are served by the test binary itself as snmpd's
	// pass_persist helper, so the test package's TestMain must call Main.
	// Empty Vars serve snmpd's own MIB of this machine.
	Vars []boards.SNMPVar
	// Extra lines are appended to snmpd.conf as they are.
	Extra []string
}

// SNMPDUser is an SNMPv3 user in net-snmp's terms (createUser in
// snmpd.conf(5)).
type SNMPDUser struct {
	Name string
	// AuthProtocol is "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384" or
	// "SHA-512"; empty for noAuthNoPriv.
	AuthProtocol   string
	AuthPassphrase string // at least 8 characters
	// PrivProtocol is "DES" or "AES" (AES-128); empty for authNoPriv.
	PrivProtocol   string
	PrivPassphrase string // at least 8 characters
}

// level is the user's minimum security level as rouser names it.
func (u *SNMPDUser) level() string {
	switch {
	case u.AuthProtocol == "":
		return "noauth"
	case u.PrivProtocol == "":
		return "auth"
	default:
		return "priv"
	}
}

func (u *SNMPDUser) validate() error {
	word := func(what, s string) error {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"'\\#") {
			return fmt.Errorf("SNMPv3 %s %q: want one word without quotes, backslashes or '#'", what, s)
		}
		return nil
	}
	if err := word("user name", u.Name); err != nil {
		return err
	}
	if u.AuthProtocol == "" {
		return nil
	}
	if err := word("auth passphrase", u.AuthPassphrase); err != nil || len(u.AuthPassphrase) < 8 {
		return fmt.Errorf("SNMPv3 user %s: auth passphrase must be one word of at least 8 characters", u.Name)
	}
	if u.PrivProtocol != "" {
		if err := word("priv passphrase", u.PrivPassphrase); err != nil || len(u.PrivPassphrase) < 8 {
			return fmt.Errorf("SNMPv3 user %s: priv passphrase must be one word of at least 8 characters", u.Name)
		}
	}
	return nil
}

// SNMPD is a running snmpd.
type SNMPD struct {
	Addr      string // "127.0.0.1:PORT", UDP
	Host      string // "127.0.0.1"
	Port      uint16
	Community string // the SNMPv2c community, empty when there is none
	Dir       string // snmpd.conf, the log and the persistent directory

	t  testing.TB
	mu sync.Mutex
	p  *process // nil once stopped
}

// TestExecEnv names the emulator a cross-built test binary runs under
// (the Makefile sets it with go test -exec, e.g. qemu-arm-static), so that
// snmpd can start the test binary as its pass_persist helper.
const TestExecEnv = "PATCHBAY_TEST_EXEC"

// recordedModules are the only agent modules loaded when Vars are served:
// pass_persist for the variables, and what access control and SNMPv3 users
// need. snmpd -Dmib_init -H lists the module names.
const recordedModules = "pass_persist,vacm_conf,usmConf,usmUser"

// StartSNMPD starts net-snmp's snmpd on 127.0.0.1 with a generated
// configuration only (no system configuration or persistent files) and
// returns once it answers an SNMP GET. It is stopped when the test ends.
func StartSNMPD(t testing.TB, cfg SNMPDConfig) *SNMPD {
	t.Helper()
	binary, err := lookBinary("snmpd", "snmpd", "/usr/sbin")
	if err != nil {
		t.Fatalf("start snmpd: %v", err)
	}
	if cfg.Community == "" && cfg.V3 == nil {
		cfg.Community = "public"
	}
	if strings.ContainsAny(cfg.Community, " \t\r\n\"'\\#") {
		t.Fatalf("start snmpd: community %q: want one word without quotes, backslashes or '#'", cfg.Community)
	}
	if cfg.V3 != nil {
		if err := cfg.V3.validate(); err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
	}
	dir := t.TempDir()
	s := &SNMPD{Host: "127.0.0.1", Community: cfg.Community, Dir: dir, t: t}
	t.Cleanup(s.Stop)
	persist := filepath.Join(dir, "persist")
	if err := os.Mkdir(persist, 0o700); err != nil {
		t.Fatalf("start snmpd: %v", err)
	}
	env := append(os.Environ(),
		"SNMP_PERSISTENT_DIR="+persist, // not /var/lib/snmp
		"SNMPCONFPATH="+dir,            // not /etc/snmp
		"MIBS=",                        // numeric OIDs only: no MIB files to parse
	)
	args := []string{"-f", "-Lo", "-C", "-c", filepath.Join(dir, "snmpd.conf"), "-p", filepath.Join(dir, "snmpd.pid")}
	var passPersist string
	if len(cfg.Vars) > 0 {
		if !mainRunning.Load() {
			t.Fatalf("start snmpd: serving Vars needs the test binary as snmpd's pass_persist helper: add\n\tfunc TestMain(m *testing.M) { services.Main(m) }\nto the test package")
		}
		vars, err := passVars(cfg.Vars)
		if err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
		passPersist, err = os.Executable()
		if err != nil || strings.ContainsAny(passPersist, " \t") {
			t.Fatalf("start snmpd: test binary %q (%v) cannot be a pass_persist command", passPersist, err)
		}
		// A test binary built for another architecture runs under the
		// emulator go test -exec used; snmpd must start it the same way.
		if emu := os.Getenv(TestExecEnv); emu != "" {
			path, err := exec.LookPath(emu)
			if err != nil {
				t.Fatalf("start snmpd: %s=%s: %v (install Debian package qemu-user-static)", TestExecEnv, emu, err)
			}
			passPersist = path + " " + passPersist
		}
		varsPath := filepath.Join(dir, "vars.tsv")
		if err := writePassVars(varsPath, vars); err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
		env = append(env, snmpVarsEnv+"="+varsPath)
		args = append(args, "-I", recordedModules)
	}

	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	logPath := filepath.Join(dir, "snmpd.log")
	confPath := filepath.Join(dir, "snmpd.conf")
	for attempt := 1; ; attempt++ {
		port, err := freeUDPPort()
		if err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
		s.Port = uint16(port)
		s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
		if err := os.WriteFile(confPath, []byte(snmpdConf(cfg, dir, port, passPersist)), 0o600); err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
		_ = os.Remove(logPath)
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = env
		p, err := startProcess("snmpd", logPath, cmd, nil)
		if err != nil {
			t.Fatalf("start snmpd: %v", err)
		}
		s.mu.Lock()
		s.p = p
		s.mu.Unlock()
		err = p.waitReady(ctx, func(ctx context.Context) error { return s.probe(ctx, cfg) })
		if err == nil {
			return s
		}
		log := p.log()
		s.Stop()
		if attempt == startAttempts || !strings.Contains(log, "Error opening specified endpoint") {
			t.Fatalf("start snmpd on %s: %v\nconfig %s:\n%s\nlog:\n%s", s.Addr, err, confPath, readFile(confPath), log)
		}
	}
}

// snmpdConf renders snmpd.conf.
func snmpdConf(cfg SNMPDConfig, dir string, port int, passPersist string) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# written by patchbay.dev/testbench/services")
	line("agentaddress udp:127.0.0.1:%d", port)
	line("dontLogTCPWrappersConnects yes") // a line per request otherwise
	// Not the machine-wide /var/agentx/master, which parallel agents share.
	line("agentxsocket unix:%s", filepath.Join(dir, "agentx.sock"))
	if cfg.Community != "" {
		line("rocommunity %s 127.0.0.1", cfg.Community)
	}
	if u := cfg.V3; u != nil {
		create := "createUser " + u.Name
		if u.AuthProtocol != "" {
			create += fmt.Sprintf(" %s %s", u.AuthProtocol, u.AuthPassphrase)
			if u.PrivProtocol != "" {
				create += fmt.Sprintf(" %s %s", u.PrivProtocol, u.PrivPassphrase)
			}
		}
		line("%s", create)
		line("rouser %s %s", u.Name, u.level())
	}
	if passPersist != "" {
		line("pass_persist .1.3.6.1 %s", passPersist)
	}
	for _, l := range cfg.Extra {
		line("%s", l)
	}
	return b.String()
}

// probe sends one SNMP GET; any answer, even noSuchObject, means ready.
func (s *SNMPD) probe(ctx context.Context, cfg SNMPDConfig) error {
	g := &gosnmp.GoSNMP{
		Target:    s.Host,
		Port:      s.Port,
		Transport: "udp",
		Community: cfg.Community,
		Version:   gosnmp.Version2c,
		Timeout:   200 * time.Millisecond,
		Retries:   0,
		MaxOids:   gosnmp.MaxOids,
		Context:   ctx,
	}
	if cfg.Community == "" {
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags, g.SecurityParameters = usmParameters(cfg.V3)
	}
	if err := g.Connect(); err != nil {
		return err
	}
	defer g.Conn.Close()
	_, err := g.Get([]string{"1.3.6.1.2.1.1.3.0"})
	return err
}

// usmParameters turns a user into gosnmp's terms, for probing.
func usmParameters(u *SNMPDUser) (gosnmp.SnmpV3MsgFlags, *gosnmp.UsmSecurityParameters) {
	p := &gosnmp.UsmSecurityParameters{UserName: u.Name, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
	if u.AuthProtocol == "" {
		return gosnmp.NoAuthNoPriv, p
	}
	p.AuthenticationPassphrase = u.AuthPassphrase
	p.AuthenticationProtocol = map[string]gosnmp.SnmpV3AuthProtocol{
		"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA-224": gosnmp.SHA224,
		"SHA-256": gosnmp.SHA256, "SHA-384": gosnmp.SHA384, "SHA-512": gosnmp.SHA512,
	}[u.AuthProtocol]
	if u.PrivProtocol == "" {
		return gosnmp.AuthNoPriv, p
	}
	p.PrivacyPassphrase = u.PrivPassphrase
	p.PrivacyProtocol = map[string]gosnmp.SnmpV3PrivProtocol{"DES": gosnmp.DES, "AES": gosnmp.AES}[u.PrivProtocol]
	return gosnmp.AuthPriv, p
}

// Stop stops snmpd (SIGTERM, then SIGKILL), as if the device went away.
// Stopping a stopped agent does nothing.
func (s *SNMPD) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return
	}
	if err := s.p.stop(syscall.SIGTERM); err != nil {
		s.t.Errorf("stop snmpd on %s: %v", s.Addr, err)
	}
	s.p = nil
}

// Log returns the end of snmpd's log.
func (s *SNMPD) Log() string { return readTail(filepath.Join(s.Dir, "snmpd.log")) }
