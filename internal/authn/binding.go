package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
)

// Confirmation is a token's cnf claim (RFC 7800): the key or certificate
// the token is bound to, so that a stolen copy is useless without it.
// Both JWTs and introspection results carry it.
type Confirmation struct {
	X5t string `json:"x5t#S256"` // RFC 8705: the client certificate's thumbprint
	JKT string `json:"jkt"`      // RFC 9449: the DPoP key's thumbprint
}

// Check enforces the binding: a certificate-bound token must come over
// TLS with that client certificate; DPoP-bound tokens need a proof this
// gateway does not check yet, so they are refused rather than taken as
// bearer tokens.
func (c Confirmation) Check(r *http.Request) error {
	if c.JKT != "" {
		return Invalid("dpop_required", "the token is bound to a DPoP key; DPoP proofs are not accepted here")
	}
	if c.X5t == "" {
		return nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return Invalid("certificate_required", "the token is bound to a client certificate; present it over TLS")
	}
	if Thumbprint(r.TLS.PeerCertificates[0]) != c.X5t {
		return Invalid("certificate_mismatch", "the token is bound to another client certificate")
	}
	return nil
}

// Thumbprint is the RFC 8705 x5t#S256 of a certificate.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
