// Package fieldcrypt encrypts chosen JSON fields of request bodies before
// an upstream sees them, and decrypts them in responses for the consumers
// allowed to read them. A field's value (any JSON value) becomes a JSON
// string holding a JWE in compact serialisation (RFC 7516): "dir" key
// management with AES-256-GCM content encryption, the key id in the
// protected header. Keys come as a keyset: a primary key that new
// ciphertexts are made with, and older keys kept to decrypt what they
// made, so keys rotate without downtime. A key is 32 bytes from a secret,
// or an AES-256 key in a PKCS#11 token that never leaves it (any
// cipher.AEAD that is AES-256-GCM with a 96-bit nonce).
//
// The JWE is read and written here, for that one shape only: a value
// with another algorithm, compression or critical header parameters is
// refused, and FuzzOpen holds the reading to go-jose's (jwx).
package fieldcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// KeySize is the size of every key: AES-256.
const KeySize = 32

// The sizes A256GCM fixes (RFC 7518 section 5.3).
const (
	ivSize  = 12
	tagSize = 16
)

// DecodeKey reads a key as written in a secret: 32 bytes in base64
// (standard or URL alphabet, padded or not; `openssl rand -base64 32`).
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("the key is %d bytes; field encryption takes %d random bytes, base64-encoded (openssl rand -base64 32)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("the key is not base64; field encryption takes 32 random bytes, base64-encoded (openssl rand -base64 32)")
}

// AESKey is a 32-byte key as the AEAD a keyset takes.
func AESKey(k []byte) (cipher.AEAD, error) {
	if len(k) != KeySize {
		return nil, fmt.Errorf("the key is %d bytes, want %d", len(k), KeySize)
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Keyset is a primary key and the older keys still accepted.
type Keyset struct {
	name    string
	primary string
	keys    map[string]cipher.AEAD
	headers map[string]string // each key's protected header, base64url
}

// NewKeyset returns a keyset; keys maps key ids to 32-byte keys, and
// primary must be one of them.
func NewKeyset(name, primary string, keys map[string][]byte) (*Keyset, error) {
	aeads := make(map[string]cipher.AEAD, len(keys))
	for id, k := range keys {
		a, err := AESKey(k)
		if err != nil {
			return nil, fmt.Errorf("keyset %s: key %s: %v", name, id, err)
		}
		aeads[id] = a
	}
	return NewKeysetAEAD(name, primary, aeads)
}

// NewKeysetAEAD returns a keyset of AES-256-GCM keys as AEADs (keys in
// a token among them); primary must be one of them.
func NewKeysetAEAD(name, primary string, keys map[string]cipher.AEAD) (*Keyset, error) {
	if _, ok := keys[primary]; !ok {
		return nil, fmt.Errorf("keyset %s: the primary key %q is not among its keys", name, primary)
	}
	ks := &Keyset{name: name, primary: primary, keys: keys, headers: map[string]string{}}
	for id, a := range keys {
		if a.NonceSize() != ivSize || a.Overhead() != tagSize {
			return nil, fmt.Errorf("keyset %s: key %s is not AES-GCM with a 96-bit nonce and a 128-bit tag", name, id)
		}
		h, err := json.Marshal(struct {
			Alg string `json:"alg"`
			Enc string `json:"enc"`
			Kid string `json:"kid"`
		}{"dir", "A256GCM", id})
		if err != nil {
			return nil, err
		}
		ks.headers[id] = base64.RawURLEncoding.EncodeToString(h)
	}
	return ks, nil
}

var b64 = base64.RawURLEncoding.Strict()

// Seal appends to dst a JSON string holding plaintext (a JSON value)
// encrypted with the primary key.
func (k *Keyset) Seal(dst, plaintext []byte) ([]byte, error) {
	header := k.headers[k.primary]
	var iv [ivSize]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return nil, err
	}
	sealed, err := seal(k.keys[k.primary], iv[:], plaintext, []byte(header))
	if err != nil {
		return nil, fmt.Errorf("keyset %s, key %s: %w", k.name, k.primary, err)
	}
	ct, tag := sealed[:len(sealed)-tagSize], sealed[len(sealed)-tagSize:]
	dst = append(dst, '"')
	dst = append(dst, header...)
	dst = append(dst, ".."...) // an empty encrypted key: dir
	dst = b64.AppendEncode(dst, iv[:])
	dst = append(dst, '.')
	dst = b64.AppendEncode(dst, ct)
	dst = append(dst, '.')
	dst = b64.AppendEncode(dst, tag)
	return append(dst, '"'), nil
}

// seal is a.Seal, with a token's failure (which crypto11 panics with)
// as an error.
func seal(a cipher.AEAD, iv, plaintext, aad []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("encryption failed: %v", r)
		}
	}()
	return a.Seal(nil, iv, plaintext, aad), nil
}

// ErrTampered is a ciphertext that does not decrypt with the key its
// header names: altered, truncated, or made with a key that is gone.
var ErrTampered = errors.New("the ciphertext does not decrypt")

// Open appends to dst the plaintext of value, a field's raw JSON value.
// A value that is not a JWE made by Seal (a plain value the upstream
// never encrypted) is appended as it is; one that is a JWE but does not
// decrypt with this keyset is ErrTampered.
func (k *Keyset) Open(dst, value []byte) ([]byte, error) {
	var s string
	if len(value) < 2 || value[0] != '"' || json.Unmarshal(value, &s) != nil || strings.Count(s, ".") != 4 || !strings.HasPrefix(s, "eyJ") {
		return append(dst, value...), nil
	}
	pt, ok := k.open(s)
	if !ok || !json.Valid(pt) {
		return nil, ErrTampered
	}
	return append(dst, pt...), nil
}

// open decrypts a compact JWE: dir, A256GCM, a kid of the keyset, no
// encrypted key, no compression, no critical parameters.
func (k *Keyset) open(s string) ([]byte, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 5 || parts[1] != "" {
		return nil, false
	}
	raw, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, false
	}
	h, ok := headerParams(raw)
	if !ok {
		return nil, false
	}
	var alg, enc, kid string
	for name, v := range h {
		var err error
		switch name {
		case "alg":
			err = json.Unmarshal(v, &alg)
		case "enc":
			err = json.Unmarshal(v, &enc)
		case "kid":
			err = json.Unmarshal(v, &kid)
		case "zip", "crit":
			return nil, false // compressed, or parameters this reader would have to understand
		}
		if err != nil {
			return nil, false
		}
	}
	key, known := k.keys[kid]
	if !known || alg != "dir" || enc != "A256GCM" {
		return nil, false
	}
	iv, err1 := b64.DecodeString(parts[2])
	ct, err2 := b64.DecodeString(parts[3])
	tag, err3 := b64.DecodeString(parts[4])
	if err1 != nil || err2 != nil || err3 != nil || len(iv) != ivSize || len(tag) != tagSize {
		return nil, false
	}
	pt, err := open(key, iv, append(ct, tag...), []byte(parts[0]))
	return pt, err == nil
}

// headerParams reads a protected header: one JSON object, each name
// once (a repeated name could be read one way here and another way by
// whoever else reads the JWE).
func headerParams(raw []byte) (map[string]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	h := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		name, isName := t.(string)
		if err != nil || !isName {
			return nil, false
		}
		var v json.RawMessage
		if _, seen := h[name]; seen || dec.Decode(&v) != nil {
			return nil, false
		}
		h[name] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // something after the object
	}
	return h, true
}

// open is a.Open, with a token's failure as an error.
func open(a cipher.AEAD, iv, sealed, aad []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("decryption failed: %v", r)
		}
	}()
	return a.Open(nil, iv, sealed, aad)
}

// RequestStage encrypts a policy's chosen fields of JSON request bodies
// (stage 15, after every check has seen the plaintext).
type RequestStage struct {
	Fields *fieldpath.Set
	Keys   *Keyset
	Count  func(outcome string) // encrypted, unchanged, skipped, refused; may be nil
}

// Name names the stage in traces and docs/architecture.md (stage 15, field encryption).
func (s *RequestStage) Name() string { return "encrypt_fields" }

// Wrap implements the stage.
func (s *RequestStage) Wrap(next http.Handler) http.Handler {
	edits := &fieldpath.Edits{Replace: s.Fields, ReplaceValue: s.Keys.Seal}
	count := s.Count
	if count == nil {
		count = func(string) {}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// the media type read leniently (a malformed parameter must not
		// let a JSON body past unencrypted)
		mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || !guard.IsJSON(mt) {
			count("skipped") // no JSON body: no field to encrypt
			next.ServeHTTP(w, r)
			return
		}
		if !guard.IdentityEncoded(r.Header) {
			count("refused")
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.UnsupportedMediaType, Reason: "encoded_body", Stage: "encrypt",
				Detail: "This endpoint encrypts fields of the request body, so the body must not be compressed: send it without Content-Encoding."})
			return
		}
		body, ok := guard.ReadBody(w, r)
		if !ok {
			return
		}
		out, changed, err := fieldpath.Rewrite(body, edits, make([]byte, 0, len(body)+512))
		var syn *fieldpath.SyntaxError
		switch {
		case errors.As(err, &syn):
			count("refused")
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.InvalidBody, Reason: "invalid_body", Stage: "encrypt",
				Detail: fmt.Sprintf("The request body is not valid JSON (at byte %d: %s), so its fields could not be encrypted.", syn.Offset, syn.Msg)})
			return
		case err != nil:
			panic(err) // encryption itself failed: an internal error, answered 500 by the recovery stage
		case !changed:
			count("unchanged")
			next.ServeHTTP(w, r)
			return
		}
		count("encrypted")
		st := reqctx.From(r.Context())
		st.Body = out
		r.Body, r.ContentLength = guard.BodyReader(out), int64(len(out))
		for _, h := range guard.DigestFields {
			delete(r.Header, h)
		}
		next.ServeHTTP(w, r)
	})
}
