package release

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// KeyType names a signature scheme for new keys.
type KeyType string

// The key types this tool generates.
const (
	KeyEd25519   KeyType = "ed25519"    // the default
	KeyECDSAP256 KeyType = "ecdsa-p256" // ECDSA on NIST P-256 with SHA-256
)

// ParseKeyType reads a key type name.
func ParseKeyType(s string) (KeyType, error) {
	switch k := KeyType(s); k {
	case KeyEd25519, KeyECDSAP256:
		return k, nil
	}
	return "", fmt.Errorf("key type %q: want ed25519 or ecdsa-p256", s)
}

// Signer makes signatures with one key. Key files implement it (FileKey);
// an HSM or a KMS can, too.
type Signer interface {
	// Public returns the public key: ed25519.PublicKey or *ecdsa.PublicKey.
	Public() crypto.PublicKey
	// Sign signs msg, the canonical JSON of a role's signed part, the way
	// TUF verifies it: Ed25519 over msg, or ECDSA P-256 over SHA-256(msg)
	// in ASN.1 DER.
	Sign(ctx context.Context, msg []byte) ([]byte, error)
}

// FileKey is a private key kept in a PEM file.
type FileKey struct {
	Path string
	priv crypto.Signer
}

// Public implements Signer.
func (k *FileKey) Public() crypto.PublicKey { return k.priv.Public() }

// Sign implements Signer.
func (k *FileKey) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch p := k.priv.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(p, msg), nil
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256(msg)
		return ecdsa.SignASN1(rand.Reader, p, sum[:])
	}
	return nil, fmt.Errorf("key %s: unsupported key type %T", k.Path, k.priv)
}

// LogValue keeps the private key out of logs.
func (k *FileKey) LogValue() slog.Value { return slog.StringValue("key file " + k.Path) }

// KeyID returns the TUF key id of a signer's public key.
func KeyID(s Signer) (string, error) {
	k, err := tufKey(s)
	if err != nil {
		return "", err
	}
	return k.ID()
}

func tufKey(s Signer) (*metadata.Key, error) {
	k, err := metadata.KeyFromPublicKey(s.Public())
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return k, nil
}

// generateKey makes a new private key of type kt and writes it to dir as
// ROLE-KEYID.pem with mode 0600.
func generateKey(dir, role string, kt KeyType) (*FileKey, error) {
	var priv crypto.Signer
	var err error
	switch kt {
	case KeyEd25519, "":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case KeyECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("key type %q: want ed25519 or ecdsa-p256", kt)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", kt, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	k := &FileKey{priv: priv}
	id, err := KeyID(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	k.Path = filepath.Join(dir, role+"-"+id[:16]+".pem")
	f, err := os.OpenFile(k.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(k.Path)
		return nil, fmt.Errorf("write key %s: %w", k.Path, err)
	}
	return k, nil
}

// LoadKeyFile reads a PKCS#8 PEM private key. On Unix it refuses a file
// that others than its owner may read.
func LoadKeyFile(path string) (*FileKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: only its owner may read it (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key file %s: want a PEM \"PRIVATE KEY\" (PKCS#8) block", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		return &FileKey{Path: path, priv: p}, nil
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key file %s: ECDSA keys must use P-256", path)
		}
		return &FileKey{Path: path, priv: p}, nil
	}
	return nil, fmt.Errorf("key file %s: unsupported key type %T (want Ed25519 or ECDSA P-256)", path, priv)
}

// keyring finds the signer of a key id among key files and injected
// signers.
type keyring struct {
	dirs    []string
	loaded  bool
	signers map[string]Signer
}

func newKeyring(extra []Signer, dirs ...string) (*keyring, error) {
	kr := &keyring{dirs: dirs, signers: map[string]Signer{}}
	for _, s := range extra {
		if err := kr.add(s); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

func (kr *keyring) add(s Signer) error {
	id, err := KeyID(s)
	if err != nil {
		return err
	}
	kr.signers[id] = s
	return nil
}

// load reads every *.pem directly in the key directories once.
func (kr *keyring) load() error {
	if kr.loaded {
		return nil
	}
	seen := map[string]bool{}
	for _, dir := range kr.dirs {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read key directory: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
				continue
			}
			k, err := LoadKeyFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			if err := kr.add(k); err != nil {
				return err
			}
		}
	}
	kr.loaded = true
	return nil
}

func (kr *keyring) get(keyID string) (Signer, bool, error) {
	if s, ok := kr.signers[keyID]; ok {
		return s, true, nil
	}
	if err := kr.load(); err != nil {
		return nil, false, err
	}
	s, ok := kr.signers[keyID]
	return s, ok, nil
}

// sigstoreSigner adapts a Signer to the interface go-tuf's Metadata.Sign
// takes. go-tuf passes no context, so it carries the caller's for the one
// signature it makes, and keeps the Signer's error, which go-tuf would
// replace with a generic one.
type sigstoreSigner struct {
	ctx context.Context
	s   Signer
	err error
}

func (a *sigstoreSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return a.s.Public(), nil
}

func (a *sigstoreSigner) SignMessage(msg io.Reader, _ ...signature.SignOption) ([]byte, error) {
	b, err := io.ReadAll(msg)
	if err != nil {
		a.err = err
		return nil, err
	}
	sig, err := a.s.Sign(a.ctx, b)
	a.err = err
	return sig, err
}
