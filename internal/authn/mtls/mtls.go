// Package mtls is the mtls authenticator: a client certificate that the
// TLS listener verified against client_auth.ca_file becomes the consumer.
package mtls

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/pki"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Authenticator maps verified client certificates to consumers.
type Authenticator struct {
	name    string
	from    string // subject_cn, san_uri, san_dns, fingerprint
	revoked map[string]bool
}

// New returns an Authenticator; crlFile, if not empty, lists revoked
// certificates (PEM or DER, version 1 or 2), read now and on every reload.
func New(name, consumerFrom, crlFile string) (*Authenticator, error) {
	a := &Authenticator{name: name, from: consumerFrom, revoked: map[string]bool{}}
	if crlFile == "" {
		return a, nil
	}
	crl, err := pki.ReadCRL(crlFile)
	if err != nil {
		return nil, fmt.Errorf("crl_file %w", err)
	}
	for _, serial := range crl.Revoked {
		a.revoked[serialKey(crl.RawIssuer, serial)] = true
	}
	return a, nil
}

func serialKey(issuer []byte, serial *big.Int) string {
	return string(issuer) + "\x00" + serial.String()
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.name }

// Challenge implements authn.Authenticator. No registered scheme names a
// client certificate; this one tells a human what is missing.
func (a *Authenticator) Challenge() string { return `Certificate realm="rampart"` }

// Hint implements authn.Authenticator.
func (a *Authenticator) Hint() string { return "a TLS client certificate" }

// Authenticate implements authn.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*reqctx.Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, authn.ErrNoCredentials
	}
	if len(r.TLS.VerifiedChains) == 0 {
		return nil, authn.Invalid("unverified_certificate", "the client certificate does not chain to a trusted CA")
	}
	leaf := r.TLS.PeerCertificates[0]
	if a.revoked[serialKey(leaf.RawIssuer, leaf.SerialNumber)] {
		return nil, authn.Invalid("certificate_revoked", "the client certificate is revoked")
	}
	consumer := ""
	switch a.from {
	case "subject_cn":
		consumer = leaf.Subject.CommonName
	case "san_uri":
		if len(leaf.URIs) > 0 {
			consumer = leaf.URIs[0].String()
		}
	case "san_dns":
		if len(leaf.DNSNames) > 0 {
			consumer = leaf.DNSNames[0]
		}
	case "fingerprint":
		sum := sha256.Sum256(leaf.Raw)
		consumer = hex.EncodeToString(sum[:])
	}
	if consumer == "" {
		return nil, authn.Invalid("no_consumer", "the client certificate has no "+a.from)
	}
	return &reqctx.Identity{Consumer: consumer, Method: "mtls", ExpiresAt: leaf.NotAfter}, nil
}
