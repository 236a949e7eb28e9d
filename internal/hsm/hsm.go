package hsm

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/ThalesGroup/crypto11"
)

// Module is one PKCS#11 library and the PIN of its tokens' user, with a
// context per token opened on first use.
type Module struct {
	Path string
	Pin  string

	mu     sync.Mutex
	tokens map[string]*crypto11.Context // by token label, or "#" serial
}

// Signer returns the private key u names, as a crypto.Signer whose Sign
// asks the token. ECDSA and RSA keys are supported.
func (m *Module) Signer(u URI) (crypto.Signer, error) {
	ctx, label, err := m.object(u, "private", "a signing key")
	if err != nil {
		return nil, err
	}
	s, err := ctx.FindKeyPair(u.ID, label)
	if err != nil {
		return nil, fmt.Errorf("token %s: no key pair %s: %w", tokenName(u), keyName(u), err)
	}
	if s == nil {
		return nil, fmt.Errorf("token %s has no key pair %s", tokenName(u), keyName(u))
	}
	switch s.Public().(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("key %s is of a type Rampart does not sign with (ECDSA and RSA are)", keyName(u))
	}
	return s, nil
}

// AEAD returns the AES-256 secret key a pkcs11: URI names as an
// AES-GCM AEAD (96-bit nonces, 128-bit tags) whose Seal and Open ask the
// token; crypto11 panics when the token fails, which callers recover.
func (m *Module) AEAD(uri string) (cipher.AEAD, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	ctx, label, err := m.object(u, "secret-key", "an encryption key")
	if err != nil {
		return nil, err
	}
	k, err := ctx.FindKey(u.ID, label)
	if err != nil {
		return nil, fmt.Errorf("token %s: no secret key %s: %w", tokenName(u), keyName(u), err)
	}
	if k == nil {
		return nil, fmt.Errorf("token %s has no secret key %s", tokenName(u), keyName(u))
	}
	if k.Cipher != crypto11.CipherAES {
		return nil, fmt.Errorf("key %s is not an AES key", keyName(u))
	}
	if a, err := ctx.GetAttribute(k, crypto11.CkaValueLen); err != nil || len(a.Value) == 0 || bytesToUint(a.Value) != 32 {
		return nil, fmt.Errorf("key %s is not an AES-256 key (CKA_VALUE_LEN 32)", keyName(u))
	}
	return k.NewGCM()
}

// bytesToUint reads a CK_ULONG attribute, in the machine's byte order.
func bytesToUint(b []byte) uint64 {
	switch len(b) {
	case 8:
		return binary.NativeEndian.Uint64(b)
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return 0
}

// SignerURI is Signer for a pkcs11: URI as written.
func (m *Module) SignerURI(uri string) (crypto.Signer, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return m.Signer(u)
}

// object checks that u names an object of type typ (or none), and
// returns its token's context and the object's label.
func (m *Module) object(u URI, typ, what string) (*crypto11.Context, []byte, error) {
	if u.Type != "" && u.Type != typ {
		return nil, nil, fmt.Errorf("the URI names a %s object: %s is type=%s", u.Type, what, typ)
	}
	ctx, err := m.token(u)
	if err != nil {
		return nil, nil, err
	}
	var label []byte
	if u.Object != "" {
		label = []byte(u.Object)
	}
	return ctx, label, nil
}

// token returns the context of u's token, logging in with the PIN.
func (m *Module) token(u URI) (*crypto11.Context, error) {
	if u.Module != "" && u.Module != m.Path {
		return nil, fmt.Errorf("the URI's module-path %s is not the pkcs11 section's module %s", u.Module, m.Path)
	}
	if u.Token == "" && u.Serial == "" {
		return nil, errors.New("the URI names no token: give token=LABEL or serial=SERIAL")
	}
	name := u.Token
	if name == "" {
		name = "#" + u.Serial
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx := m.tokens[name]; ctx != nil {
		return ctx, nil
	}
	// 96-bit GCM nonces: what AES-GCM is specified with, and what JWE's
	// A256GCM requires
	ctx, err := crypto11.Configure(&crypto11.Config{Path: m.Path, TokenLabel: u.Token, TokenSerial: u.Serial, Pin: m.Pin, GCMIVLength: 12})
	if err != nil {
		return nil, fmt.Errorf("token %s in %s: %w", tokenName(u), m.Path, err)
	}
	if m.tokens == nil {
		m.tokens = map[string]*crypto11.Context{}
	}
	m.tokens[name] = ctx
	return ctx, nil
}

// Close logs out of every token.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, ctx := range m.tokens {
		errs = append(errs, ctx.Close())
	}
	m.tokens = nil
	return errors.Join(errs...)
}

func tokenName(u URI) string {
	if u.Token != "" {
		return u.Token
	}
	return "serial " + u.Serial
}

func keyName(u URI) string {
	if u.Object != "" {
		return fmt.Sprintf("labelled %q", u.Object)
	}
	return fmt.Sprintf("with id %x", u.ID)
}
