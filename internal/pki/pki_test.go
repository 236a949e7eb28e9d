package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/pki/pkitest"
)

// v1CRL builds a version 1 CRL, as `openssl ca -gencrl` writes by default.
func v1CRL(t *testing.T, ca *x509.Certificate, key *ecdsa.PrivateKey, serials ...int64) []byte {
	t.Helper()
	var ns []*big.Int
	for _, s := range serials {
		ns = append(ns, bigInt(s))
	}
	b, err := pkitest.V1CRL(ca, key, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bigInt(n int64) *big.Int { return new(big.Int).SetInt64(n) }

func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func TestParseCRL(t *testing.T) {
	ca, key := testCA(t)
	now := time.Now()
	v2, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(7), RevocationTime: now}}}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	v1 := v1CRL(t, ca, key, 7, 9)
	cases := []struct {
		name    string
		data    []byte
		serials []int64
		err     string
	}{
		{"v2 DER", v2, []int64{7}, ""},
		{"v2 PEM", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: v2}), []int64{7}, ""},
		{"v1 DER (openssl ca -gencrl)", v1, []int64{7, 9}, ""},
		{"v1 PEM", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: v1}), []int64{7, 9}, ""},
		{"v1 without entries", v1CRL(t, ca, key), nil, ""},
		{"a certificate instead", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), nil, `not an X509 CRL`},
		{"garbage", []byte("not a crl"), nil, "is not a certificate revocation list"},
		{"truncated", v1[:len(v1)-3], nil, "is not a certificate revocation list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			crl, err := ParseCRL(c.data)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(crl.RawIssuer) != string(ca.RawSubject) {
				t.Error("issuer differs from the CA's subject")
			}
			var got []int64
			for _, s := range crl.Revoked {
				got = append(got, s.Int64())
			}
			if len(got) != len(c.serials) || (len(got) > 0 && got[len(got)-1] != c.serials[len(c.serials)-1]) {
				t.Errorf("serials %v, want %v", got, c.serials)
			}
		})
	}
}

func TestKeyPair(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b *pem.Block) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, key := testCA(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kb, _ := x509.MarshalECPrivateKey(key)
	ob, _ := x509.MarshalECPrivateKey(other)
	cert := write("c.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	good := write("k.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	wrong := write("o.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: ob})
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o600)
	cases := []struct {
		name, cert, key, err string
	}{
		{"pair", cert, good, ""},
		{"key of another certificate", cert, wrong, "does not belong to the certificate"},
		{"missing key", cert, filepath.Join(dir, "none.pem"), "key_file " + filepath.Join(dir, "none.pem") + ": no such file"},
		{"empty certificate", empty, good, "holds no PEM CERTIFICATE"},
		{"key given as certificate", good, good, "holds no PEM CERTIFICATE"},
		{"certificate given as key", cert, cert, "holds no PEM private key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := KeyPair(c.cert, c.key)
			if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
	if _, err := CertPool(cert); err != nil {
		t.Error(err)
	}
	if _, err := CertPool(good); err == nil || !strings.Contains(err.Error(), "holds no PEM certificates") {
		t.Errorf("CertPool of a key: %v", err)
	}
	before := Fingerprint(cert)
	if before == Fingerprint(good) || before != Fingerprint(cert) {
		t.Error("fingerprints do not follow the content")
	}
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw[:10]}), 0o600)
	if Fingerprint(cert) == before {
		t.Error("a rewritten file keeps its fingerprint")
	}
}

// FuzzParseCRL: no input makes the parser panic, and whatever it reads as
// a v2 list is what crypto/x509 reads.
func FuzzParseCRL(f *testing.F) {
	ca, key := testCA(&testing.T{})
	f.Add(v1CRL(&testing.T{}, ca, key, 1, 2))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCRL(b)
		if err == nil && c.RawIssuer == nil {
			t.Fatal("a CRL without an issuer")
		}
		if rl, xerr := x509.ParseRevocationList(b); xerr == nil && (err != nil || len(rl.RevokedCertificateEntries) != len(c.Revoked)) {
			t.Fatalf("crypto/x509 reads %d entries, ParseCRL %v", len(rl.RevokedCertificateEntries), err)
		}
	})
}
