// Package pki reads the certificate material a config names: key pairs,
// CA bundles and certificate revocation lists. The config validator and
// the gateway read them with these same functions, so `rampart validate`
// refuses exactly what `rampart run` would, with the same words.
package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"time"
)

// MaxFileBytes bounds a certificate, key, CA or CRL file: larger ones
// are refused unread.
const MaxFileBytes = 16 << 20

// ReadFile reads a certificate file, bounded by MaxFileBytes. Errors name
// what went wrong, not the path (the caller names the setting).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory")
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("is %d bytes, more than the %d a certificate file may be", fi.Size(), MaxFileBytes)
	}
	// From the file opened and checked, not by name again: it may have
	// been replaced meanwhile (a renewal's rename).
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("is more than the %d bytes a certificate file may be", MaxFileBytes)
	}
	return b, nil
}

// KeyPair loads a certificate chain and its private key. The errors say
// which file is at fault, which crypto/tls's do not: during a renewal the
// certificate is often written before its key, and the operator reading
// the reload status needs to know the pair is mismatched, not "invalid".
func KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cert_file %s: %w", certFile, err)
	}
	keyPEM, err := ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key_file %s: %w", keyFile, err)
	}
	if !hasBlock(certPEM, "CERTIFICATE") {
		return tls.Certificate{}, fmt.Errorf("cert_file %s holds no PEM CERTIFICATE block", certFile)
	}
	if !hasKeyBlock(keyPEM) {
		return tls.Certificate{}, fmt.Errorf("key_file %s holds no PEM private key", keyFile)
	}
	crt, err := tls.X509KeyPair(certPEM, keyPEM)
	switch {
	case err != nil && bytes.Contains([]byte(err.Error()), []byte("does not match")):
		return crt, fmt.Errorf("the private key in %s does not belong to the certificate in %s (was one of them replaced without the other?)", keyFile, certFile)
	case err != nil:
		return crt, fmt.Errorf("certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return crt, nil
}

// CertPool reads a PEM bundle of CA certificates. Every CERTIFICATE block
// must parse, and there must be at least one.
func CertPool(file string) (*x509.CertPool, error) {
	b, err := ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificates", file)
	}
	return pool, nil
}

// CRL is what a revocation list says: the certificates of one issuer
// that are revoked.
type CRL struct {
	RawIssuer  []byte // DER of the issuer's name, as in a certificate's RawIssuer
	Revoked    []*big.Int
	ThisUpdate time.Time
	NextUpdate time.Time // zero when the list names none
}

// ReadCRL reads a CRL file, PEM ("X509 CRL") or DER.
func ReadCRL(file string) (*CRL, error) {
	b, err := ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	c, err := ParseCRL(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

// ParseCRL parses a CRL, PEM or DER, of version 2 (RFC 5280) or 1.
// crypto/x509 reads only version 2; version 1 is what `openssl ca -gencrl`
// writes unless told to add extensions, and a v1 list has none, so it
// is read here with the same structure minus the version.
func ParseCRL(b []byte) (*CRL, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "X509 CRL" {
			return nil, fmt.Errorf("holds a PEM %q block, not an X509 CRL", blk.Type)
		}
		b = blk.Bytes
	}
	rl, err := x509.ParseRevocationList(b)
	if err == nil {
		c := &CRL{RawIssuer: rl.RawIssuer, ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate}
		for _, e := range rl.RevokedCertificateEntries {
			c.Revoked = append(c.Revoked, e.SerialNumber)
		}
		return c, nil
	}
	if c, v1err := parseV1(b); v1err == nil {
		return c, nil
	}
	return nil, fmt.Errorf("is not a certificate revocation list: %w", err)
}

// v1List is RFC 5280's CertificateList for version 1: TBSCertList starts
// with the signature algorithm (no version), and neither the list nor its
// entries carry extensions.
type v1List struct {
	TBS       v1TBS
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type v1TBS struct {
	Raw        asn1.RawContent
	Signature  pkix.AlgorithmIdentifier
	Issuer     asn1.RawValue
	ThisUpdate time.Time
	NextUpdate time.Time       `asn1:"optional"`
	Revoked    []v1RevokedCert `asn1:"optional"`
}

type v1RevokedCert struct {
	Serial *big.Int
	When   time.Time
	Ext    asn1.RawValue `asn1:"optional"` // not in v1; tolerated, as OpenSSL does
}

func parseV1(der []byte) (*CRL, error) {
	var l v1List
	rest, err := asn1.Unmarshal(der, &l)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, errors.New("trailing data after the CRL")
	}
	c := &CRL{RawIssuer: l.TBS.Issuer.FullBytes, ThisUpdate: l.TBS.ThisUpdate, NextUpdate: l.TBS.NextUpdate}
	for _, r := range l.TBS.Revoked {
		c.Revoked = append(c.Revoked, r.Serial)
	}
	return c, nil
}

// Fingerprint is a SHA-256 over the contents of files (and their names),
// for keying a resource by what it was built from rather than by the
// config text naming it: a rotated file gives a new fingerprint. A file
// that cannot be read counts as empty.
func Fingerprint(files ...string) [32]byte {
	h := sha256.New()
	for _, f := range files {
		if f == "" {
			continue
		}
		b, _ := os.ReadFile(f)
		fmt.Fprintf(h, "%d:%s:%d:", len(f), f, len(b))
		h.Write(b)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

func hasBlock(b []byte, typ string) bool {
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return false
		}
		if blk.Type == typ {
			return true
		}
	}
}

func hasKeyBlock(b []byte) bool {
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return false
		}
		if blk.Type == "PRIVATE KEY" || bytes.HasSuffix([]byte(blk.Type), []byte(" PRIVATE KEY")) {
			return true
		}
	}
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
