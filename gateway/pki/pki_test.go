package pki_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/gateway/pki"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		in   string
		want pki.Identity
		ok   bool
	}{
		{"acme/rtr-1", pki.Identity{Tenant: "acme", Device: "rtr-1"}, true},
		{"patchbay-gateway", pki.Identity{Service: "patchbay-gateway"}, true},
		{"acme/rtr-1/x", pki.Identity{}, false},
		{"acme/", pki.Identity{}, false},
		{"/rtr-1", pki.Identity{}, false},
		{"+/rtr-1", pki.Identity{}, false},
		{"acme/#", pki.Identity{}, false},
		{"", pki.Identity{}, false},
		{"gate way", pki.Identity{}, false},
	}
	for _, tt := range tests {
		got, err := pki.ParseIdentity(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseIdentity(%q) = %+v, %v; want %+v, ok=%t", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, pki.ErrIdentity) {
			t.Errorf("ParseIdentity(%q) error %v does not wrap ErrIdentity", tt.in, err)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("ParseIdentity(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestIdentityOf(t *testing.T) {
	tests := []struct {
		name    string
		subject pkix.Name
		want    pki.Identity
		ok      bool
	}{
		{"device", pkix.Name{CommonName: "acme/rtr-1", Organization: []string{"acme"}}, pki.Identity{Tenant: "acme", Device: "rtr-1"}, true},
		{"device without O", pkix.Name{CommonName: "acme/rtr-1"}, pki.Identity{Tenant: "acme", Device: "rtr-1"}, true},
		{"O of another tenant", pkix.Name{CommonName: "acme/rtr-1", Organization: []string{"globex"}}, pki.Identity{}, false},
		{"two O", pkix.Name{CommonName: "acme/rtr-1", Organization: []string{"acme", "globex"}}, pki.Identity{}, false},
		{"service", pkix.Name{CommonName: "patchbay-gateway"}, pki.Identity{Service: "patchbay-gateway"}, true},
		{"no CN", pkix.Name{Organization: []string{"acme"}}, pki.Identity{}, false},
	}
	for _, tt := range tests {
		got, err := pki.IdentityOf(&x509.Certificate{Subject: tt.subject})
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("%s: IdentityOf(%v) = %+v, %v; want %+v, ok=%t", tt.name, tt.subject, got, err, tt.want, tt.ok)
		}
	}
}

func TestIssue(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ca, err := pki.NewCA("Test CA", pki.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "Test CA" {
		t.Errorf("CA certificate: IsCA %t, CN %q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	server, err := ca.IssueServer([]string{"broker.example", "10.0.0.7"}, pki.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(server.Cert, x509.ExtKeyUsageServerAuth, now); err != nil {
		t.Error(err)
	}
	for _, name := range []string{"localhost", "broker.example", "127.0.0.1", "::1", "10.0.0.7"} {
		if err := server.Cert.VerifyHostname(name); err != nil {
			t.Errorf("server certificate: %v", err)
		}
	}
	var ips []string
	for _, ip := range server.Cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"10.0.0.7", "127.0.0.1", "::1"}; !slices.Equal(ips, want) {
		t.Errorf("server IP SANs = %v, want %v", ips, want)
	}
	if server.Cert.NotAfter.Sub(now) > pki.ServerLifetime {
		t.Errorf("server certificate valid until %v, more than %v", server.Cert.NotAfter, pki.ServerLifetime)
	}

	device := pki.Identity{Tenant: "acme", Device: "rtr-1"}
	client, err := ca.IssueClient(device, pki.Options{Now: now, Lifetime: 100 * 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(client.Cert, x509.ExtKeyUsageClientAuth, now); err != nil {
		t.Error(err)
	}
	if err := ca.Verify(client.Cert, x509.ExtKeyUsageServerAuth, now); err == nil {
		t.Error("a device certificate verifies for server authentication")
	}
	if got, err := pki.IdentityOf(client.Cert); err != nil || got != device {
		t.Errorf("IdentityOf(device certificate) = %+v, %v; want %+v", got, err, device)
	}
	if !client.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("client certificate valid until %v, after its CA (%v)", client.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := ca.IssueClient(pki.Identity{Tenant: "acme", Device: "a/b"}, pki.Options{}); !errors.Is(err, pki.ErrIdentity) {
		t.Errorf("IssueClient(bad device) = %v, want ErrIdentity", err)
	}
	if _, err := ca.IssueClient(pki.Identity{Tenant: "acme", Device: "x", Service: "y"}, pki.Options{}); !errors.Is(err, pki.ErrIdentity) {
		t.Errorf("IssueClient(device and service) = %v, want ErrIdentity", err)
	}
	other, err := pki.NewCA("", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Verify(client.Cert, x509.ExtKeyUsageClientAuth, now); err == nil {
		t.Error("a certificate verifies against another CA")
	}
}

func TestFiles(t *testing.T) {
	dir := pki.Dir(t.TempDir())
	ca, err := pki.NewCA("", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	caCert, caKey := dir.CA()
	if err := pki.WriteKeyPair(caCert, caKey, &ca.KeyPair); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyPair(caCert, caKey, &ca.KeyPair); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteKeyPair over an existing CA = %v, want fs.ErrExist", err)
	}
	id := pki.Identity{Tenant: "acme", Device: "rtr-1"}
	kp, err := ca.IssueClient(id, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := dir.Client(id)
	if err := pki.WriteKeyPair(certFile, keyFile, kp); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(string(dir), "devices", "acme", "rtr-1.key"); keyFile != want {
		t.Errorf("Client key path = %s, want %s", keyFile, want)
	}
	for path, want := range map[string]fs.FileMode{caKey: 0o600, keyFile: 0o600, caCert: 0o644, certFile: 0o644, filepath.Dir(keyFile): 0o700 | fs.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	loaded, err := pki.LoadCA(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) || !loaded.Key.Equal(ca.Key) {
		t.Error("LoadCA returned another CA than was written")
	}
	if _, err := pki.LoadCA(certFile, keyFile); err == nil {
		t.Error("LoadCA accepted a device certificate")
	}
	if _, err := pki.LoadKeyPair(certFile, caKey); err == nil {
		t.Error("LoadKeyPair accepted a key of another certificate")
	}
	entries, _ := os.ReadDir(filepath.Dir(keyFile))
	for _, e := range entries {
		if e.Name() != "rtr-1.crt" && e.Name() != "rtr-1.key" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestMosquittoACL(t *testing.T) {
	got, err := pki.MosquittoACL([]string{"patchbay-gateway", "replica-2", "patchbay-gateway"})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "mosquitto.acl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("MosquittoACL (-%s +got):\n%s", golden, diff)
	}
	if _, err := pki.MosquittoACL([]string{"a/b"}); err == nil {
		t.Error("MosquittoACL accepted a service named like a device")
	}
	def, _ := pki.MosquittoACL(nil)
	if !bytes.Contains(def, []byte("\nuser patchbay-gateway\n")) {
		t.Error("MosquittoACL(nil) has no lines for the default service")
	}
}
