package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is a directory holding a CA and what it issued:
//
//	ca.crt, ca.key                        the device CA
//	server.crt, server.key                the broker's certificate
//	devices/{tenant}/{device}.crt, .key   device certificates
//	services/{name}.crt, .key             service certificates (gateways)
//	mosquitto.acl                         the ACL file for mosquitto
//
// Keys are written with mode 0600, their directories 0700.
type Dir string

// CA returns the paths of the CA certificate and key.
func (d Dir) CA() (cert, key string) { return d.pair("ca") }

// Server returns the paths of the broker's certificate and key.
func (d Dir) Server() (cert, key string) { return d.pair("server") }

// Client returns the paths of a device's or service's certificate and key.
func (d Dir) Client(id Identity) (cert, key string) {
	if id.IsDevice() {
		return d.pair(filepath.Join("devices", id.Tenant, id.Device))
	}
	return d.pair(filepath.Join("services", id.Service))
}

// ACL returns the path of the mosquitto ACL file.
func (d Dir) ACL() string { return filepath.Join(string(d), "mosquitto.acl") }

func (d Dir) pair(base string) (cert, key string) {
	p := filepath.Join(string(d), base)
	return p + ".crt", p + ".key"
}

// WriteKeyPair writes kp's certificate (PEM, mode 0644) and key (PKCS #8
// PEM, mode 0600), creating directories as needed (mode 0700). It never
// replaces a file: an existing certificate or key is an error wrapping
// fs.ErrExist.
func WriteKeyPair(certPath, keyPath string, kp *KeyPair) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return fmt.Errorf("write key %s: %w", keyPath, err)
	}
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("write %s: %w (remove it first to replace it)", p, fs.ErrExist)
		}
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw}), 0o644); err != nil {
		return errors.Join(err, os.Remove(keyPath))
	}
	return nil
}

// WriteFile writes data to path with mode perm through a temporary file,
// so that readers never see half of it. It never replaces a file.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeNew(path, data, perm)
}

// ReplaceFile writes data to path with mode perm through a temporary file
// that it renames over path, so that readers see the old file or the new
// one, never half of either.
func ReplaceFile(path string, data []byte, perm fs.FileMode) error {
	return writeTemp(path, data, perm, os.Rename)
}

// writeNew writes a temporary file in path's directory, syncs it and links
// it to path, which fails if path exists.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	return writeTemp(path, data, perm, os.Link)
}

// writeTemp writes a synced temporary file in path's directory and puts
// it in place with place (os.Link: only if path does not exist; os.Rename:
// replacing it).
func writeTemp(path string, data []byte, perm fs.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadKeyPair reads a certificate and its key written by WriteKeyPair (or
// any PEM certificate with an ECDSA key in PKCS #8 or SEC 1 form).
func LoadKeyPair(certPath, keyPath string) (*KeyPair, error) {
	cert, err := LoadCertificate(certPath)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("read key %s: no PEM block", keyPath)
	}
	var key *ecdsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read key %s: %w", keyPath, err)
		}
		var ok bool
		if key, ok = k.(*ecdsa.PrivateKey); !ok {
			return nil, fmt.Errorf("read key %s: a %T, want an ECDSA key", keyPath, k)
		}
	case "EC PRIVATE KEY":
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("read key %s: %w", keyPath, err)
		}
	default:
		return nil, fmt.Errorf("read key %s: PEM block %q, want PRIVATE KEY", keyPath, block.Type)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("read key %s: it does not belong to the certificate %s", keyPath, certPath)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// LoadCertificate reads the first certificate of a PEM file.
func LoadCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("read certificate %s: no CERTIFICATE PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read certificate %s: %w", path, err)
	}
	return cert, nil
}

// LoadCA reads a CA written by WriteKeyPair.
func LoadCA(certPath, keyPath string) (*CA, error) {
	kp, err := LoadKeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !kp.Cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certPath)
	}
	return &CA{*kp}, nil
}
