package hsm

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"

	"github.com/rampart-gw/rampart/internal/fieldcrypt"
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

// TestSoftHSMAEAD: an AES-256 key in a real SoftHSM2 token encrypts
// and decrypts through the module as AES-GCM does in software with the
// same key (the key is imported, so the test knows it); a field-
// encryption keyset on it makes JWEs a JOSE library opens with that key.
// Keys that are not AES-256 are refused.
func TestSoftHSMAEAD(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h.ImportAESKey(t, "pii-2026", []byte{9}, key)
	h.ImportAESKey(t, "aes-128", []byte{10}, key[:16])
	m := &Module{Path: h.Module, Pin: h.Pin}
	defer m.Close()
	token, err := m.AEAD("pkcs11:token=" + h.Label + ";object=pii-2026;type=secret-key")
	if err != nil {
		t.Fatal(err)
	}
	soft, _ := fieldcrypt.AESKey(key)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	aad := []byte("eyJhbGciOiJkaXIifQ")
	sealed := token.Seal(nil, nonce, []byte("4111 1111 1111 1111"), aad)
	if pt, err := soft.Open(nil, nonce, sealed, aad); err != nil || string(pt) != "4111 1111 1111 1111" {
		t.Fatalf("software AES-GCM opens the token's ciphertext: %q %v", pt, err)
	}
	if pt, err := token.Open(nil, nonce, soft.Seal(nil, nonce, []byte("078-05-1120"), aad), aad); err != nil || string(pt) != "078-05-1120" {
		t.Fatalf("the token opens software AES-GCM: %q %v", pt, err)
	}
	if _, err := token.Open(nil, nonce, append(sealed[:len(sealed)-1], sealed[len(sealed)-1]^1), aad); err == nil {
		t.Error("the token opened an altered ciphertext")
	}
	ks, err := fieldcrypt.NewKeysetAEAD("pii", "2026", map[string]cipher.AEAD{"2026": token})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ks.Seal(nil, []byte(`{"card":"4111"}`))
	if err != nil {
		t.Fatal(err)
	}
	var compact string
	_ = json.Unmarshal(v, &compact)
	if pt, err := jwe.Decrypt([]byte(compact), jwe.WithKey(jwa.DIRECT(), key)); err != nil || string(pt) != `{"card":"4111"}` {
		t.Fatalf("jwx opens the token's JWE with the key: %q %v", pt, err)
	}
	for uri, want := range map[string]string{
		"pkcs11:token=" + h.Label + ";object=aes-128":               "not an AES-256 key",
		"pkcs11:token=" + h.Label + ";object=nope":                  `no secret key labelled "nope"`,
		"pkcs11:token=" + h.Label + ";object=pii-2026;type=private": "an encryption key is type=secret-key",
	} {
		if _, err := m.AEAD(uri); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", uri, err, want)
		}
	}
}
