package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/hsm"
	"github.com/rampart-gw/rampart/internal/identity"
	"github.com/rampart-gw/rampart/internal/pki"
)

// assertionSigner is the identity assertion's signer: keys the gateway
// makes and rotates, or identity.signing_key in a token.
func (g *Gateway) assertionSigner(cfg *config.Config) (*identity.Signer, error) {
	uri := cfg.Identity.SigningKey
	if uri == "" {
		return identity.NewSigner(cfg.Identity.KeyRotation.D())
	}
	signer, err := g.tokenSigner(uri)
	if err != nil {
		return nil, cfg.ErrorAt("identity.signing_key", err)
	}
	s, err := identity.NewSignerWithKey(signer)
	if err != nil {
		return nil, cfg.ErrorAt("identity.signing_key", err)
	}
	return s, nil
}

// tokenSigner is the key a pkcs11: URI names, in the configured module.
func (g *Gateway) tokenSigner(uri string) (crypto.Signer, error) {
	if g.hsm == nil {
		return nil, errors.New("a pkcs11: key needs the pkcs11 section")
	}
	return g.hsm.SignerURI(uri)
}

// keyPair loads a certificate chain and its key: from PEM files, or the
// key from a token when keyFile is a pkcs11: URI (the certificate's key
// must be the token's).
func (g *Gateway) keyPair(certFile, keyFile string) (tls.Certificate, error) {
	if !hsm.IsURI(keyFile) {
		return pki.KeyPair(certFile, keyFile)
	}
	chain, leaf, err := certChain(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	signer, err := g.tokenSigner(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key_file: %w", err)
	}
	if !samePublicKey(leaf.PublicKey, signer.Public()) {
		return tls.Certificate{}, errors.New("key_file: the token's key is not the certificate's")
	}
	return tls.Certificate{Certificate: chain, PrivateKey: signer, Leaf: leaf}, nil
}

// certChain reads the PEM certificates of a chain file, leaf first.
func certChain(file string) ([][]byte, *x509.Certificate, error) {
	b, err := pki.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("cert_file %s: %w", file, err)
	}
	var chain [][]byte
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, blk.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, nil, fmt.Errorf("cert_file %s holds no PEM CERTIFICATE block", file)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, nil, fmt.Errorf("cert_file %s: %w", file, err)
	}
	return chain, leaf, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *ecdsa.PublicKey:
		return k.Equal(b)
	case *rsa.PublicKey:
		return k.Equal(b)
	}
	return false
}

// closeHSM logs out of the tokens.
func (g *Gateway) closeHSM() {
	if g.hsm != nil {
		_ = g.hsm.Close()
	}
}

// keyPath resolves a key_file: a path, or a pkcs11: URI as written.
func keyPath(cfg *config.Config, keyFile string) string {
	if hsm.IsURI(keyFile) {
		return keyFile
	}
	return cfg.Path(keyFile)
}
