package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Default lifetimes of what this package issues. Devices keep their
// certificate for a long time: they sit in closets for years.
const (
	CALifetime      = 20 * 365 * 24 * time.Hour
	ServerLifetime  = 825 * 24 * time.Hour
	ClientLifetime  = 10 * 365 * 24 * time.Hour
	backdate        = 5 * time.Minute // tolerates clocks a little behind
	defaultCAName   = "Patchbay device CA"
	serialNumberLen = 128 // bits
)

// DefaultServerNames are the names every server certificate holds, so that
// a broker on this machine is reachable under them.
var DefaultServerNames = []string{"localhost", "127.0.0.1", "::1"}

// KeyPair is a certificate and its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CA is the device CA: it signs the broker's server certificate and every
// client certificate.
type CA struct {
	KeyPair
}

// Options shape what a CA issues. The zero value uses the defaults.
type Options struct {
	// Now is the issue time; zero means time.Now().
	Now time.Time
	// Lifetime is how long the certificate is valid; zero means the
	// default for its kind (CALifetime, ServerLifetime, ClientLifetime).
	Lifetime time.Duration
}

func (o Options) window(def time.Duration) (notBefore, notAfter time.Time) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	life := o.Lifetime
	if life <= 0 {
		life = def
	}
	now = now.UTC().Truncate(time.Second)
	return now.Add(-backdate), now.Add(life)
}

// NewCA creates a self-signed CA named name ("" for "Patchbay device CA")
// with a new ECDSA P-256 key.
func NewCA(name string, opts Options) (*CA, error) {
	if name == "" {
		name = defaultCAName
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: generate key: %w", name, err)
	}
	notBefore, notAfter := opts.window(CALifetime)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Patchbay"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	cert, err := sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", name, err)
	}
	return &CA{KeyPair{Cert: cert, Key: key}}, nil
}

// IssueServer issues a broker certificate for names (DNS names or IP
// addresses) and DefaultServerNames.
func (ca *CA) IssueServer(names []string, opts Options) (*KeyPair, error) {
	all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(DefaultServerNames), names...))))
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: firstDNS(all)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range all {
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	kp, err := ca.issue(tmpl, opts, ServerLifetime)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate for %v: %w", all, err)
	}
	return kp, nil
}

// IssueClient issues a client certificate for a device or a service
// identity, with a new ECDSA P-256 key.
func (ca *CA) IssueClient(id Identity, opts Options) (*KeyPair, error) {
	if err := id.Check(); err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	subject := pkix.Name{CommonName: id.String()}
	if id.IsDevice() {
		subject.Organization = []string{id.Tenant}
		subject.OrganizationalUnit = []string{"device"}
	} else {
		subject.OrganizationalUnit = []string{"service"}
	}
	tmpl := &x509.Certificate{
		Subject:     subject,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	kp, err := ca.issue(tmpl, opts, ClientLifetime)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate for %s: %w", id, err)
	}
	return kp, nil
}

func (ca *CA) issue(tmpl *x509.Certificate, opts Options, lifetime time.Duration) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("no CA certificate and key")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl.NotBefore, tmpl.NotAfter = opts.window(lifetime)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	tmpl.SubjectKeyId = keyID(&key.PublicKey)
	tmpl.AuthorityKeyId = ca.Cert.SubjectKeyId
	cert, err := sign(tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// Verify checks that cert was issued by ca for use as usage.
func (ca *CA) Verify(cert *x509.Certificate, usage x509.ExtKeyUsage, now time.Time) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("verify %q against CA %q: %w", cert.Subject.CommonName, ca.Cert.Subject.CommonName, err)
	}
	return nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), serialNumberLen))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	return cert, nil
}

// keyID is the SHA-256 of the public key, shortened as RFC 7093 allows.
func keyID(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

func firstDNS(names []string) string {
	for _, n := range names {
		if n != "" && net.ParseIP(n) == nil && n != "localhost" {
			return n
		}
	}
	return "localhost"
}
