// Package fieldcrypt encrypts chosen JSON fields of request bodies before
// an upstream sees them, and decrypts them in responses for the consumers
// allowed to read them. A field's value (any JSON value) becomes a JSON
// string holding a JWE in compact serialisation (RFC 7516): "dir" key
// management with AES-256-GCM content encryption, the key id in the
// protected header. Keys come as a keyset: a primary key that new
// ciphertexts are made with, and older keys kept to decrypt what they
// made, so keys rotate without downtime.
package fieldcrypt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// KeySize is the size of every key: AES-256.
const KeySize = 32

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

// Keyset is a primary key and the older keys still accepted.
type Keyset struct {
	name    string
	primary string
	keys    map[string][]byte
	headers jwe.Headers
}

// NewKeyset returns a keyset; keys maps key ids to 32-byte keys, and
// primary must be one of them.
func NewKeyset(name, primary string, keys map[string][]byte) (*Keyset, error) {
	for id, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("keyset %s: key %s is %d bytes, want %d", name, id, len(k), KeySize)
		}
	}
	if _, ok := keys[primary]; !ok {
		return nil, fmt.Errorf("keyset %s: the primary key %q is not among its keys", name, primary)
	}
	h := jwe.NewHeaders()
	if err := h.Set(jwe.KeyIDKey, primary); err != nil {
		return nil, err
	}
	return &Keyset{name: name, primary: primary, keys: keys, headers: h}, nil
}

// Seal appends to dst a JSON string holding plaintext (a JSON value)
// encrypted with the primary key.
func (k *Keyset) Seal(dst, plaintext []byte) ([]byte, error) {
	ct, err := jwe.Encrypt(plaintext, jwe.WithKey(jwa.DIRECT(), k.keys[k.primary]), jwe.WithContentEncryption(jwa.A256GCM()),
		jwe.WithProtectedHeaders(k.headers), jwe.WithCompact())
	if err != nil {
		return nil, err
	}
	dst = append(dst, '"')
	dst = append(dst, ct...)
	return append(dst, '"'), nil
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
	msg, err := jwe.Parse([]byte(s))
	if err != nil {
		return nil, ErrTampered
	}
	h := msg.ProtectedHeaders()
	kid, _ := h.KeyID()
	alg, _ := h.Algorithm()
	enc, _ := h.ContentEncryption()
	_, zipped := h.Compression()
	key, known := k.keys[kid]
	if !known || alg != jwa.DIRECT() || enc != jwa.A256GCM() || zipped {
		return nil, ErrTampered
	}
	pt, err := jwe.Decrypt([]byte(s), jwe.WithKey(jwa.DIRECT(), key))
	if err != nil || !json.Valid(pt) {
		return nil, ErrTampered
	}
	return append(dst, pt...), nil
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
