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

// ProofChecker checks a DPoP proof (RFC 9449) for a token bound to the
// key with thumbprint jkt; *dpop.Verifier implements it.
type ProofChecker interface {
	Check(r *http.Request, token, jkt string) error
}

// Presented is how a token came: its scheme and what the authenticator
// requires of it.
type Presented struct {
	Token  string
	DPoP   bool         // sent as "Authorization: DPoP", not Bearer
	Proofs ProofChecker // nil: DPoP-bound tokens are refused
	// DPoPRequired refuses tokens that are not DPoP-bound.
	DPoPRequired bool
}

// Check enforces the binding. A DPoP-bound token must come with the DPoP
// scheme and a valid proof (RFC 9449 §7.1: never accepted as a bearer
// token); a token sent with the DPoP scheme must be DPoP-bound; a
// certificate-bound token (RFC 8705) must come over TLS with that client
// certificate.
func (c Confirmation) Check(r *http.Request, p Presented) error {
	switch {
	case c.JKT != "" && !p.DPoP:
		return Invalid("dpop_required", "the token is bound to a DPoP key; send it as Authorization: DPoP with a DPoP proof")
	case c.JKT != "" && p.Proofs == nil:
		return Invalid("dpop_required", "the token is bound to a DPoP key; DPoP proofs are not accepted here")
	case c.JKT != "":
		if err := p.Proofs.Check(r, p.Token, c.JKT); err != nil {
			return err
		}
	case p.DPoP:
		return Invalid("not_dpop_bound", "the token is not bound to a DPoP key (no cnf.jkt); send it as a Bearer token")
	case p.DPoPRequired:
		return Invalid("dpop_required", "this API takes DPoP-bound tokens only")
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
