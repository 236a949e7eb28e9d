package fieldcrypt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

func key(t testing.TB) []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecodeKey(t *testing.T) {
	k := key(t)
	for _, s := range []string{base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), " " + base64.URLEncoding.EncodeToString(k) + "\n"} {
		got, err := DecodeKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(k[:16])} {
		if _, err := DecodeKey(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestSealOpen: a sealed value opens to the same JSON with the key that
// made it, after the primary has moved on (rotation), and is a standard
// JWE (dir, A256GCM, kid) that any JOSE library opens.
func TestSealOpen(t *testing.T) {
	k1, k2 := key(t), key(t)
	old, err := NewKeyset("pii", "k1", map[string][]byte{"k1": k1})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`"4111 1111 1111 1111"`, `{"number":"4111","exp":"12/29"}`, `42`, `null`, `["a",1]`} {
		sealed, err := old.Seal(nil, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := json.Unmarshal(sealed, &s); err != nil || strings.Count(s, ".") != 4 {
			t.Fatalf("not a compact JWE string: %s", sealed)
		}
		msg, err := jwe.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := msg.ProtectedHeaders().KeyID()
		alg, _ := msg.ProtectedHeaders().Algorithm()
		enc, _ := msg.ProtectedHeaders().ContentEncryption()
		if kid != "k1" || alg != jwa.DIRECT() || enc != jwa.A256GCM() {
			t.Errorf("header: kid %q alg %v enc %v", kid, alg, enc)
		}
		if pt, err := jwe.Decrypt([]byte(s), jwe.WithKey(jwa.DIRECT(), k1)); err != nil || string(pt) != v {
			t.Errorf("a JOSE library reads %q, %v", pt, err)
		}
		rotated, err := NewKeyset("pii", "k2", map[string][]byte{"k1": k1, "k2": k2})
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := rotated.Open(nil, sealed); err != nil || string(pt) != v {
			t.Errorf("after rotation: %q, %v", pt, err)
		}
		if again, _ := rotated.Seal(nil, []byte(v)); !strings.Contains(headerOf(t, again), `"kid":"k2"`) {
			t.Errorf("new ciphertexts are not made with the new primary: %s", headerOf(t, again))
		}
	}
}

func headerOf(t *testing.T, sealed []byte) string {
	var s string
	_ = json.Unmarshal(sealed, &s)
	h, err := base64.RawURLEncoding.DecodeString(s[:strings.IndexByte(s, '.')])
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestOpenRefuses: altered, truncated, foreign-key, other-algorithm and
// compressed ciphertexts are ErrTampered; plain values pass as they are.
func TestOpenRefuses(t *testing.T) {
	k1 := key(t)
	ks, _ := NewKeyset("pii", "k1", map[string][]byte{"k1": k1})
	sealed, _ := ks.Seal(nil, []byte(`"078-05-1120"`))
	var s string
	_ = json.Unmarshal(sealed, &s)
	parts := strings.Split(s, ".")
	flip := func(p string) string {
		b := []byte(p)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	other, _ := NewKeyset("other", "k1", map[string][]byte{"k1": key(t)})
	foreign, _ := other.Seal(nil, []byte(`"x"`))
	unknownKid, _ := NewKeyset("pii", "k9", map[string][]byte{"k9": k1})
	gone, _ := unknownKid.Seal(nil, []byte(`"x"`))
	a128, _ := jwe.Encrypt([]byte(`"x"`), jwe.WithKey(jwa.DIRECT(), k1[:16]), jwe.WithContentEncryption(jwa.A128GCM()), jwe.WithCompact())
	for name, v := range map[string]string{
		"ciphertext altered": strings.Join([]string{parts[0], parts[1], parts[2], flip(parts[3]), parts[4]}, "."),
		"tag altered":        strings.Join([]string{parts[0], parts[1], parts[2], parts[3], flip(parts[4])}, "."),
		"iv altered":         strings.Join([]string{parts[0], parts[1], flip(parts[2]), parts[3], parts[4]}, "."),
		"truncated":          strings.Join([]string{parts[0], parts[1], parts[2], parts[3][:len(parts[3])/2], parts[4]}, "."),
		"another keyset":     strings.Trim(string(foreign), `"`),
		"a key that is gone": strings.Trim(string(gone), `"`),
		"A128GCM":            string(a128),
	} {
		raw, _ := json.Marshal(v)
		if _, err := ks.Open(nil, raw); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, plain := range []string{`"078-05-1120"`, `42`, `{"a":1}`, `"a.b.c.d.e"`} {
		if got, err := ks.Open(nil, []byte(plain)); err != nil || string(got) != plain {
			t.Errorf("plain %s: %q %v", plain, got, err)
		}
	}
}

// TestRequestStage: the chosen fields of a JSON body reach the upstream
// encrypted, with the body's new length; other bodies pass untouched;
// a body that is not JSON is refused.
func TestRequestStage(t *testing.T) {
	ks, _ := NewKeyset("pii", "k1", map[string][]byte{"k1": key(t)})
	fields, _ := fieldpath.Compile([]string{"card", "**.ssn"})
	counts := map[string]int{}
	s := &RequestStage{Fields: fields, Keys: ks, Count: func(o string) { counts[o]++ }}
	var got []byte
	var gotLen int64
	h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		gotLen = r.ContentLength
	}))
	for _, tc := range []struct {
		name, ct, body string
		status         int
		outcome        string
	}{
		{"json", "application/json", `{"name":"Jane","card":"4111111111111111","kin":{"ssn":"078-05-1120"}}`, 200, "encrypted"},
		{"no such field", "application/json", `{"name":"Jane"}`, 200, "unchanged"},
		{"a form", "application/x-www-form-urlencoded", `card=4111111111111111`, 200, "skipped"},
		{"not json", "application/json", `{"card":`, 400, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clear(counts)
			got = nil
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ct)
			r = r.WithContext(reqctx.With(context.Background(), &reqctx.State{MaxBodyBytes: 1 << 20}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status || counts[tc.outcome] != 1 {
				t.Fatalf("%d %v: %s", rec.Code, counts, rec.Body)
			}
			if tc.status != 200 {
				return
			}
			if int64(len(got)) != gotLen {
				t.Errorf("Content-Length %d for %d bytes", gotLen, len(got))
			}
			if tc.outcome != "encrypted" {
				if string(got) != tc.body {
					t.Errorf("changed: %s", got)
				}
				return
			}
			if strings.Contains(string(got), "4111") || strings.Contains(string(got), "078-05") || !strings.Contains(string(got), `"name":"Jane"`) {
				t.Errorf("upstream got %s", got)
			}
			var doc struct {
				Card string `json:"card"`
				Kin  struct {
					SSN json.RawMessage `json:"ssn"`
				} `json:"kin"`
			}
			if err := json.Unmarshal(got, &doc); err != nil {
				t.Fatal(err)
			}
			if pt, err := ks.Open(nil, doc.Kin.SSN); err != nil || string(pt) != `"078-05-1120"` {
				t.Errorf("ssn opens to %s, %v", pt, err)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	ks, _ := NewKeyset("pii", "k1", map[string][]byte{"k1": key(b)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Seal(nil, []byte(`"4111 1111 1111 1111"`)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzOpen holds the JWE reading to a JOSE library's (jwx). The fuzzer
// picks a protected header and a plaintext; the test encrypts them
// properly under that header (so the tag is good and only the header's
// reading is in question), and whatever Open opens, jwx must open
// to the same plaintext with the header this reader checked (dir,
// A256GCM, kid k1, no compression). The header string is also tried as a
// whole compact JWE, for the splitting and decoding around it.
func FuzzOpen(f *testing.F) {
	k1 := bytes.Repeat([]byte{7}, KeySize)
	ks, err := NewKeyset("pii", "k1", map[string][]byte{"k1": k1})
	if err != nil {
		f.Fatal(err)
	}
	gcm, _ := AESKey(k1)
	for _, h := range []string{`{"alg":"dir","enc":"A256GCM","kid":"k1"}`, `{"alg":"dir","enc":"A256GCM","kid":"k1","zip":"DEF"}`,
		`{"alg":"dir","alg":"dir","enc":"A256GCM","kid":"k1"}`, `{"enc":"A256GCM","kid":"k1","alg":"dir"} `,
		`{"alg":"dir","enc":"A256GCM","kid":"k1","crit":["exp"],"exp":1}`, `{"alg":"dir","enc":"A128GCM","kid":"k1"}`,
		`{"alg":"dir","enc":"A256GCM","kid":"k\u0031"}`, `{"alg":"dir","enc":"A256GCM","kid":"k1","cty":"JWT"}`} {
		f.Add(h, []byte(`{"card":"4111"}`))
	}
	f.Fuzz(func(t *testing.T, header string, plaintext []byte) {
		_, _ = ks.open(header) // never panics
		iv := bytes.Repeat([]byte{1}, ivSize)
		h := base64.RawURLEncoding.EncodeToString([]byte(header))
		sealed := gcm.Seal(nil, iv, plaintext, []byte(h))
		s := h + ".." + base64.RawURLEncoding.EncodeToString(iv) + "." + base64.RawURLEncoding.EncodeToString(sealed[:len(sealed)-tagSize]) +
			"." + base64.RawURLEncoding.EncodeToString(sealed[len(sealed)-tagSize:])
		value, _ := json.Marshal(s)
		pt, err := ks.Open(nil, value)
		if err != nil || bytes.Equal(pt, value) {
			return // refused, or not taken for a JWE and passed as it is
		}
		ref, err := jwe.Decrypt([]byte(s), jwe.WithKey(jwa.DIRECT(), k1))
		if err != nil {
			t.Fatalf("header %q, plaintext %q: opened here, refused by jwx: %v", header, plaintext, err)
		}
		if !bytes.Equal(pt, ref) || !bytes.Equal(pt, plaintext) {
			t.Fatalf("header %q: %q here, %q in jwx, %q sealed", header, pt, ref, plaintext)
		}
		msg, err := jwe.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		ph := msg.ProtectedHeaders()
		kid, _ := ph.KeyID()
		alg, _ := ph.Algorithm()
		enc, _ := ph.ContentEncryption()
		if _, zipped := ph.Compression(); zipped || kid != "k1" || alg != jwa.DIRECT() || enc != jwa.A256GCM() {
			t.Fatalf("header %q: jwx reads kid %q alg %v enc %v zip %v", header, kid, alg, enc, zipped)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	ks, _ := NewKeyset("pii", "k1", map[string][]byte{"k1": key(b)})
	sealed, _ := ks.Seal(nil, []byte(`"4111 1111 1111 1111"`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Open(nil, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
