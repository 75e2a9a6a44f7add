package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the agent's whole configuration.
type Config struct {
	DeviceID string   `yaml:"device_id"`
	Tenant   string   `yaml:"tenant"`
	Site     string   `yaml:"site"`
	Tags     []string `yaml:"tags,omitempty"`
	// Board pins the board profile id; empty means detect it.
	Board string `yaml:"board,omitempty"`
	// BoardsDir holds the operator's own board profiles, adding to or
	// overriding the built-in ones.
	BoardsDir string `yaml:"boards_dir,omitempty"`
	StateDir  string `yaml:"state_dir"`

	Log       Log       `yaml:"log"`
	Broker    Broker    `yaml:"broker"`
	TUF       TUF       `yaml:"tuf"`
	Discovery Discovery `yaml:"discovery"`
	Policy    Policy    `yaml:"policy"`
	Health    []Check   `yaml:"health_checks,omitempty"`
}

// Log says how the agent logs.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Broker is the MQTT connection to the gateway.
type Broker struct {
	URL       string   `yaml:"url"` // tcp://host:1883, ssl://host:8883
	CAFile    string   `yaml:"ca_file,omitempty"`
	CertFile  string   `yaml:"cert_file,omitempty"`
	KeyFile   string   `yaml:"key_file,omitempty"`
	KeepAlive Duration `yaml:"keepalive"`
	// OutboxBytes bounds the on-disk event outbox.
	OutboxBytes int64 `yaml:"outbox_bytes"`
}

// TUF names the update repository and how often to look at it.
type TUF struct {
	MetadataURL string `yaml:"metadata_url"`
	TargetsURL  string `yaml:"targets_url"`
	// RootFile is the trusted root.json shipped with the device, used once
	// to bootstrap the trusted metadata in the state directory.
	RootFile        string   `yaml:"root_file"`
	RefreshInterval Duration `yaml:"refresh_interval"`
}

// Discovery says what the agent inventories besides itself.
type Discovery struct {
	Interval Duration     `yaml:"interval"`
	SNMP     []SNMPTarget `yaml:"snmp,omitempty"`
	Serial   []SerialPort `yaml:"serial,omitempty"`
}

// SNMPTarget is a neighbour device read over SNMP.
type SNMPTarget struct {
	Name      string   `yaml:"name"`
	Address   string   `yaml:"address"` // host or host:port
	Version   string   `yaml:"version"` // 2c or 3
	Community Secret   `yaml:"community,omitempty"`
	V3        *SNMPv3  `yaml:"v3,omitempty"`
	Timeout   Duration `yaml:"timeout"`
	Retries   int      `yaml:"retries"`
}

// SNMPv3 is the user-based security of an SNMPv3 target.
type SNMPv3 struct {
	User           string `yaml:"user"`
	AuthProtocol   string `yaml:"auth_protocol"` // SHA, SHA256, SHA512, MD5
	AuthPassphrase Secret `yaml:"auth_passphrase"`
	PrivProtocol   string `yaml:"priv_protocol"` // AES, AES256, DES, or empty for authNoPriv
	PrivPassphrase Secret `yaml:"priv_passphrase,omitempty"`
}

// SerialPort is a microcontroller attached over serial.
type SerialPort struct {
	Name     string `yaml:"name"`
	Port     string `yaml:"port"`
	Baud     int    `yaml:"baud"`
	Protocol string `yaml:"protocol"` // smp or console
	Board    string `yaml:"board,omitempty"`
}

// Policy is the device's local view of patch policy; the gateway's desired
// state can narrow it.
type Policy struct {
	// AutoApprove is the lowest severity an update must have to install
	// without an operator: none (every update), low, medium, high or
	// critical. Updates for known-exploited vulnerabilities (KEV) always
	// qualify.
	AutoApprove string   `yaml:"auto_approve"`
	Windows     []Window `yaml:"windows,omitempty"`
	Reboot      string   `yaml:"reboot"` // immediate, in-window, operator
}

// Window is a maintenance window: a cron start, a duration and a time zone.
type Window struct {
	Cron     string   `yaml:"cron"`
	Duration Duration `yaml:"duration"`
	TimeZone string   `yaml:"timezone"`
}

// Check is a health check run during a trial boot.
type Check struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command,omitempty"`
	URL     string   `yaml:"url,omitempty"`
	Timeout Duration `yaml:"timeout"`
}

// Default returns the configuration every file starts from.
func Default() Config {
	return Config{
		StateDir: "/var/lib/patchbay",
		Log:      Log{Format: "text", Level: "info"},
		Broker: Broker{
			KeepAlive:   Duration(30 * time.Second),
			OutboxBytes: 1 << 20,
		},
		TUF:       TUF{RefreshInterval: Duration(time.Hour)},
		Discovery: Discovery{Interval: Duration(6 * time.Hour)},
		Policy:    Policy{AutoApprove: "critical", Reboot: "in-window"},
	}
}

// Load reads, decodes and validates the file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML over Default and validates the result.
func Parse(data []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("decode: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("decode: more than one YAML document")
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

var (
	severities = []string{"none", "low", "medium", "high", "critical"}
	reboots    = []string{"immediate", "in-window", "operator"}
)

// Validate reports every problem in c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for field, v := range map[string]string{"device_id": c.DeviceID, "tenant": c.Tenant, "site": c.Site} {
		if !idPattern.MatchString(v) {
			bad(field, "%q must be 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit", v)
		}
	}
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		bad("state_dir", "%q must be an absolute path", c.StateDir)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		bad("log.format", "%q must be text or json", c.Log.Format)
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Broker.URL != "" {
		u, err := url.Parse(c.Broker.URL)
		switch {
		case err != nil:
			bad("broker.url", "%v", err)
		case !oneOf(u.Scheme, "tcp", "ssl", "tls", "mqtt", "mqtts"):
			bad("broker.url", "scheme %q must be tcp, ssl, tls, mqtt or mqtts", u.Scheme)
		case u.Port() == "":
			bad("broker.url", "%q needs a port", c.Broker.URL)
		}
		if (c.Broker.CertFile == "") != (c.Broker.KeyFile == "") {
			bad("broker.cert_file", "cert_file and key_file go together")
		}
	}
	if c.Broker.KeepAlive < Duration(time.Second) {
		bad("broker.keepalive", "must be at least 1s")
	}
	if c.Broker.OutboxBytes < 64<<10 {
		bad("broker.outbox_bytes", "%d is below the 65536-byte minimum", c.Broker.OutboxBytes)
	}
	if c.TUF.MetadataURL != "" || c.TUF.TargetsURL != "" {
		for field, v := range map[string]string{"tuf.metadata_url": c.TUF.MetadataURL, "tuf.targets_url": c.TUF.TargetsURL} {
			if u, err := url.Parse(v); err != nil || !oneOf(u.Scheme, "http", "https", "file") || v == "" {
				bad(field, "%q must be an http, https or file URL", v)
			}
		}
		if c.TUF.RootFile == "" {
			bad("tuf.root_file", "is required with a repository: the trusted root.json to start from")
		}
	}
	if c.TUF.RefreshInterval < Duration(time.Minute) {
		bad("tuf.refresh_interval", "must be at least 1m")
	}
	if c.Discovery.Interval < Duration(time.Minute) {
		bad("discovery.interval", "must be at least 1m")
	}
	names := map[string]bool{}
	for i, t := range c.Discovery.SNMP {
		f := fmt.Sprintf("discovery.snmp[%d]", i)
		if t.Name == "" || names[t.Name] {
			bad(f+".name", "%q must be set and unique", t.Name)
		}
		names[t.Name] = true
		if t.Address == "" {
			bad(f+".address", "is required")
		}
		switch t.Version {
		case "2c":
			if t.Community == "" {
				bad(f+".community", "is required for version 2c")
			}
			if t.V3 != nil {
				bad(f+".v3", "is only for version 3")
			}
		case "3":
			if t.V3 == nil {
				bad(f+".v3", "is required for version 3")
				break
			}
			if t.V3.User == "" {
				bad(f+".v3.user", "is required")
			}
			if !oneOf(t.V3.AuthProtocol, "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512") {
				bad(f+".v3.auth_protocol", "%q must be MD5, SHA, SHA224, SHA256, SHA384 or SHA512", t.V3.AuthProtocol)
			}
			if len(t.V3.AuthPassphrase) < 8 {
				bad(f+".v3.auth_passphrase", "must be at least 8 characters")
			}
			if t.V3.PrivProtocol != "" {
				if !oneOf(t.V3.PrivProtocol, "DES", "AES", "AES192", "AES256") {
					bad(f+".v3.priv_protocol", "%q must be DES, AES, AES192 or AES256", t.V3.PrivProtocol)
				}
				if len(t.V3.PrivPassphrase) < 8 {
					bad(f+".v3.priv_passphrase", "must be at least 8 characters")
				}
			}
		default:
			bad(f+".version", "%q must be 2c or 3", t.Version)
		}
		if t.Timeout < 0 || t.Retries < 0 || t.Retries > 10 {
			bad(f, "timeout must not be negative and retries must be 0–10")
		}
	}
	for i, p := range c.Discovery.Serial {
		f := fmt.Sprintf("discovery.serial[%d]", i)
		if p.Name == "" || names[p.Name] {
			bad(f+".name", "%q must be set and unique", p.Name)
		}
		names[p.Name] = true
		if p.Port == "" {
			bad(f+".port", "is required (e.g. /dev/ttyACM0)")
		}
		if p.Baud <= 0 {
			bad(f+".baud", "%d must be positive (e.g. 115200)", p.Baud)
		}
		if !oneOf(p.Protocol, "smp", "console") {
			bad(f+".protocol", "%q must be smp or console", p.Protocol)
		}
	}
	if !oneOf(c.Policy.AutoApprove, severities...) {
		bad("policy.auto_approve", "%q must be one of %s", c.Policy.AutoApprove, strings.Join(severities, ", "))
	}
	if !oneOf(c.Policy.Reboot, reboots...) {
		bad("policy.reboot", "%q must be one of %s", c.Policy.Reboot, strings.Join(reboots, ", "))
	}
	for i, w := range c.Policy.Windows {
		f := fmt.Sprintf("policy.windows[%d]", i)
		if len(strings.Fields(w.Cron)) != 5 {
			bad(f+".cron", "%q must have five fields (minute hour day-of-month month day-of-week)", w.Cron)
		}
		if w.Duration <= 0 {
			bad(f+".duration", "must be positive")
		}
		if _, err := time.LoadLocation(w.TimeZone); err != nil || w.TimeZone == "" {
			bad(f+".timezone", "%q must be an IANA time zone such as Europe/Berlin", w.TimeZone)
		}
	}
	checks := map[string]bool{}
	for i, h := range c.Health {
		f := fmt.Sprintf("health_checks[%d]", i)
		if h.Name == "" || checks[h.Name] {
			bad(f+".name", "%q must be set and unique", h.Name)
		}
		checks[h.Name] = true
		if (len(h.Command) == 0) == (h.URL == "") {
			bad(f, "needs exactly one of command or url")
		}
		if h.Timeout <= 0 {
			bad(f+".timeout", "must be positive")
		}
	}
	return errors.Join(errs...)
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// ParseLevel reads a log level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q must be debug, info, warn or error", s)
	}
	return l, nil
}

// Duration is a time.Duration written as a string ("90s", "6h").
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string such as \"90s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Secret is a string that never shows in logs or printed configs.
type Secret string

// String redacts.
func (Secret) String() string { return "[redacted]" }

// LogValue redacts.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalYAML redacts, so a printed config holds no secrets.
func (Secret) MarshalYAML() (any, error) { return "[redacted]", nil }

// Reveal returns the secret for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }
