package report

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"

	"patchbay.dev/agent/config"
)

// tlsConfig returns the TLS configuration for the broker URL's scheme, or
// nil for plain TCP. The client certificate is read again at every
// handshake, so a renewed certificate is used without a restart; a broken
// one is reported here first.
func tlsConfig(b config.Broker) (*tls.Config, error) {
	u, err := url.Parse(b.URL)
	if err != nil {
		return nil, fmt.Errorf("broker.url: %w", err)
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts":
	default:
		if b.CAFile != "" || b.CertFile != "" {
			return nil, fmt.Errorf("broker.url %q is not TLS but broker.ca_file or cert_file is set: use ssl://host:8883 or mqtts://host:8883", b.URL)
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if b.CAFile != "" {
		pem, err := os.ReadFile(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("broker.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker.ca_file %s: no PEM certificate in it", b.CAFile)
		}
		c.RootCAs = pool
	}
	if b.CertFile != "" {
		load := func() (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("broker.cert_file %s, key_file %s: %w", b.CertFile, b.KeyFile, err)
			}
			return &cert, nil
		}
		if _, err := load(); err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
	}
	return c, nil
}
