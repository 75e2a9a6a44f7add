package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID != "rtr-0042" || c.Discovery.SNMP[1].V3.AuthPassphrase.Reveal() != "auth-passphrase" {
		t.Errorf("Load decoded %+v", c)
	}
	if got, want := c.Policy.Windows[0].Duration.Std(), 2*time.Hour; got != want {
		t.Errorf("windows[0].duration = %v, want %v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	base := "device_id: d1\ntenant: t\nsite: s\n"
	tests := []struct {
		name string
		yaml string
		want []string // substrings the error must contain
	}{
		{"unknown field", base + "colour: blue\n", []string{"colour", "not found"}},
		{"missing identity", "state_dir: /x\n", []string{"device_id", "tenant", "site"}},
		{"relative state dir", base + "state_dir: var/lib\n", []string{"state_dir", "absolute"}},
		{"bad duration", base + "tuf:\n  refresh_interval: soon\n", []string{"line 5", "soon"}},
		{"broker without port", base + "broker:\n  url: tcp://gw\n", []string{"broker.url", "port"}},
		{"snmp v2c no community", base + "discovery:\n  snmp:\n    - {name: a, address: h, version: 2c}\n", []string{"discovery.snmp[0].community"}},
		{"snmp bad version", base + "discovery:\n  snmp:\n    - {name: a, address: h, version: \"1\", community: c}\n", []string{"discovery.snmp[0].version"}},
		{"window zone", base + "policy:\n  windows:\n    - {cron: \"0 2 * * *\", duration: 1h, timezone: Mars/Olympus}\n", []string{"policy.windows[0].timezone"}},
		{"check needs one kind", base + "health_checks:\n  - {name: x, timeout: 1s}\n", []string{"health_checks[0]", "exactly one"}},
		{"severity", base + "policy:\n  auto_approve: urgent\n", []string{"policy.auto_approve", "critical"}},
		{"tuf needs root", base + "tuf:\n  metadata_url: http://h/m\n  targets_url: http://h/t\n", []string{"tuf.root_file"}},
		{"two documents", base + "---\ndevice_id: x\n", []string{"more than one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("target", "snmp", c.Discovery.SNMP[0].Community, "v3", c.Discovery.SNMP[1].V3.AuthPassphrase)
	printed := fmt.Sprint(c.Discovery.SNMP[0].Community)
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{logs.String(), printed, string(out)} {
		for _, secret := range []string{"s3cret-community", "auth-passphrase", "priv-passphrase"} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q leaked into %q", secret, s)
			}
		}
	}
}

func TestDefaultNeedsIdentityOnly(t *testing.T) {
	c := Default()
	c.DeviceID, c.Tenant, c.Site = "d", "t", "s"
	if err := c.Validate(); err != nil {
		t.Errorf("Default() with identity: Validate() = %v, want nil", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("device_id: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse(data) // must not panic
	})
}
