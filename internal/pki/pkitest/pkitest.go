// Package pkitest makes certificate material crypto/x509 cannot: a
// version 1 CRL, as `openssl ca -gencrl` writes by default.
package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"
)

// oidECDSASHA256 is ecdsa-with-SHA256.
var oidECDSASHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}

// V1CRL returns the DER of a version 1 CRL of ca revoking serials, signed
// with key: no version field and no extensions (RFC 5280 §5.1).
func V1CRL(ca *x509.Certificate, key *ecdsa.PrivateKey, serials ...*big.Int) ([]byte, error) {
	type entry struct {
		Serial *big.Int
		When   time.Time `asn1:"utc"`
	}
	type tbs struct {
		Signature  pkix.AlgorithmIdentifier
		Issuer     asn1.RawValue
		ThisUpdate time.Time `asn1:"utc"`
		NextUpdate time.Time `asn1:"utc"`
		Revoked    []entry   `asn1:"omitempty"`
	}
	now := time.Now().UTC().Truncate(time.Second)
	tb := tbs{Signature: pkix.AlgorithmIdentifier{Algorithm: oidECDSASHA256}, Issuer: asn1.RawValue{FullBytes: ca.RawSubject},
		ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour)}
	for _, s := range serials {
		tb.Revoked = append(tb.Revoked, entry{s, now})
	}
	der, err := asn1.Marshal(tb)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: der}, tb.Signature, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}
