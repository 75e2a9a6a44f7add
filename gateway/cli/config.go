package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"patchbay.dev/gateway/ingest"
)

// ServeConfig is the configuration of "patchbay-gateway serve".
type ServeConfig struct {
	// Store is a SQLite file, or a postgres:// (postgresql://) URL.
	Store string `json:"store"`
	// MQTTListen is the embedded broker's listen address. It is used when
	// Broker is empty.
	MQTTListen string `json:"mqtt_listen"`
	// Broker is an external broker's URL (tcp://, ssl://, mqtt://,
	// mqtts://); empty for the embedded broker.
	Broker string `json:"broker"`
	// ClientID is the gateway's persistent session on an external broker;
	// each replica needs its own, stable across restarts.
	ClientID string `json:"client_id"`
	// Group is the shared subscription group on an external broker.
	Group string `json:"group"`
	// HTTPListen is the API's listen address.
	HTTPListen string `json:"http_listen"`
	// TLS files. For the embedded broker: its certificate and key, and the
	// device CA that client certificates must chain to. For an external
	// broker: the gateway's client certificate and key, and the CA of the
	// broker's certificate.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	TLSCA   string `json:"tls_ca"`
	// InsecureDevAuth lets devices of the embedded broker connect without
	// TLS, named by their username "{tenant}/{device}", unverified.
	InsecureDevAuth bool `json:"insecure_dev_auth"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
}

// DefaultServeConfig returns the defaults: SQLite in patchbay.db, the
// embedded broker on :8883 (which then needs TLS files), the API on
// 127.0.0.1:8080 (it does not authenticate).
func DefaultServeConfig() ServeConfig {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return ServeConfig{
		Store:      "patchbay.db",
		MQTTListen: ":8883",
		ClientID:   "patchbay-gateway-" + host,
		Group:      ingest.DefaultGroup,
		HTTPListen: "127.0.0.1:8080",
		LogLevel:   "info",
	}
}

// External reports whether the gateway uses an external broker.
func (c ServeConfig) External() bool { return c.Broker != "" }

// Postgres reports whether Store names a PostgreSQL database.
func (c ServeConfig) Postgres() bool {
	return strings.HasPrefix(c.Store, "postgres://") || strings.HasPrefix(c.Store, "postgresql://")
}

// Validate returns every problem with c, naming the flag to change.
func (c ServeConfig) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if c.Store == "" {
		bad("store", "empty; want a SQLite file or a postgres:// URL")
	}
	if err := checkAddr(c.HTTPListen); err != nil {
		bad("http-listen", "%v", err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	if c.External() {
		if c.InsecureDevAuth {
			bad("insecure-dev-auth", "applies to the embedded broker only; an external broker authenticates devices itself")
		}
		cfg := ingest.ClientConfig{URL: c.Broker, ClientID: c.ClientID, Group: c.Group}
		if err := cfg.Validate(); err != nil {
			bad("broker", "%v", err)
		}
		if u, err := url.Parse(c.Broker); err == nil && (u.Scheme == "ssl" || u.Scheme == "mqtts") && c.TLSCA == "" {
			bad("tls-ca", "needed for %s: the CA of the broker's certificate", c.Broker)
		}
	} else {
		if err := checkAddr(c.MQTTListen); err != nil {
			bad("mqtt-listen", "%v", err)
		}
		tls := c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != ""
		switch {
		case tls && (c.TLSCert == "" || c.TLSCA == ""):
			bad("tls-ca", "the embedded broker's TLS needs --tls-cert, --tls-key and --tls-ca (the device CA)")
		case !tls && !c.InsecureDevAuth:
			bad("tls-cert", "the embedded broker needs TLS files (see 'patchbay-gateway pki'), or --insecure-dev-auth for development")
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("log-level", "%v", err)
	}
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	if addr == "" {
		return errors.New("empty; want host:port")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
