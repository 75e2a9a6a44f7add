package pki_test

import (
	"testing"

	"patchbay.dev/gateway/broker/brokertest"
	"patchbay.dev/gateway/pki"
	"patchbay.dev/testbench/services"
)

func TestMain(m *testing.M) { services.Main(m) }

// TestMosquittoIsolation runs the broker conformance suite against a real
// mosquitto configured with this package's certificates, ACL file and
// MosquittoConf settings.
func TestMosquittoIsolation(t *testing.T) {
	dir := brokertest.NewPKI(t)
	m := StartMosquitto(t, dir)
	brokertest.Run(t, m.URL, dir)
}

// StartMosquitto starts mosquitto with dir's server certificate, requiring
// client certificates from dir's CA, and dir's ACL file.
func StartMosquitto(t *testing.T, dir pki.Dir) *services.Mosquitto {
	caFile, _ := dir.CA()
	certFile, keyFile := dir.Server()
	return services.StartMosquitto(t, services.MosquittoConfig{
		TLS: &services.MosquittoTLS{
			CAFile: caFile, CertFile: certFile, KeyFile: keyFile,
			RequireClientCert: true, UseIdentityAsUsername: true,
		},
		DenyAnonymous: true,
		ACLFile:       dir.ACL(),
		Extra:         []string{"use_username_as_clientid true"},
	})
}
