package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/rampart-gw/rampart/internal/testenv"
)

func TestParseURI(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want URI
		err  string
	}{
		{in: "pkcs11:token=rampart;object=gateway-tls;type=private", want: URI{Token: "rampart", Object: "gateway-tls", Type: "private"}},
		{in: "pkcs11:token=My%20Token;id=%01%02;manufacturer=SoftHSM%20project?module-path=/usr/lib/softhsm/libsofthsm2.so",
			want: URI{Token: "My Token", ID: []byte{1, 2}, Module: "/usr/lib/softhsm/libsofthsm2.so"}},
		{in: "pkcs11:serial=abc123;object=k", want: URI{Serial: "abc123", Object: "k"}},
		{in: "file:key.pem", err: `starts with "pkcs11:"`},
		{in: "pkcs11:token=a", err: "names no key"},
		{in: "pkcs11:token=a;object=k?pin-value=1234", err: "pin-value puts the PIN in the URI"},
		{in: "pkcs11:token=a;object=k;object=j", err: "given twice"},
		{in: "pkcs11:token=a;object=%zz", err: "bad percent-encoding"},
		{in: "pkcs11:token=a;colour=red;object=k", err: `unknown attribute "colour"`},
		{in: "pkcs11:token=a;object=k;type=key", err: "type \"key\" is not"},
		{in: "pkcs11:token;object=k", err: "has no value"},
	} {
		got, err := ParseURI(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got.Token != tt.want.Token || got.Serial != tt.want.Serial || got.Object != tt.want.Object ||
			string(got.ID) != string(tt.want.ID) || got.Type != tt.want.Type || got.Module != tt.want.Module {
			t.Errorf("%s: %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseURI: any input is read or refused, never a panic, and what is
// read names a key.
func FuzzParseURI(f *testing.F) {
	f.Add("pkcs11:token=rampart;object=tls;type=private?module-path=/x.so")
	f.Add("pkcs11:id=%00%ff;serial=1")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err == nil && u.Object == "" && len(u.ID) == 0 {
			t.Fatalf("%q read as %+v, which names no key", s, u)
		}
	})
}

// TestSoftHSM: a key made in a real SoftHSM2 token signs through the
// module; what it signs verifies with its public key, and the key itself
// cannot be read out.
func TestSoftHSM(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	ctx, err := crypto11.Configure(&crypto11.Config{Path: h.Module, TokenLabel: h.Label, Pin: h.Pin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{7}, []byte("assertion"), elliptic.P256()); err != nil {
		t.Fatal(err)
	}
	_ = ctx.Close()

	m := &Module{Path: h.Module, Pin: h.Pin}
	defer m.Close()
	u, _ := ParseURI("pkcs11:token=" + h.Label + ";object=assertion;type=private")
	s, err := m.Signer(u)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("the assertion"))
	sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), sum[:], sig) {
		t.Fatalf("sign: %v", err)
	}
	if _, ok := s.(*ecdsa.PrivateKey); ok {
		t.Fatal("the key came out of the token")
	}
	for uri, want := range map[string]string{
		"pkcs11:token=" + h.Label + ";object=nope":                     `no key pair labelled "nope"`,
		"pkcs11:token=no-such-token;object=assertion":                  "no-such-token",
		"pkcs11:object=assertion":                                      "names no token",
		"pkcs11:token=" + h.Label + ";object=assertion?module-path=/x": "is not the pkcs11 section's module",
	} {
		u, _ := ParseURI(uri)
		if _, err := m.Signer(u); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", uri, err, want)
		}
	}
	_ = m.Close() // logged in, the process stays so for every session
	bad := &Module{Path: h.Module, Pin: "wrong"}
	defer bad.Close()
	if _, err := bad.Signer(u); err == nil || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("wrong PIN: %v", err)
	}
}
