// Package webui holds what the gateway's browser pages share: the strict
// security headers every page is sent with, CSRF tokens for state-changing
// calls, and the embedded stylesheet. The developer portal and the
// security dashboard build on it; neither needs anything from the
// internet.
package webui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

// CSP is the Content-Security-Policy of every page: scripts, styles,
// fonts and data only from the page's own origin, no inline script or
// style, no plugins, no framing, forms posting only to the same origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Secure sets the headers every page and every JSON answer of a web UI
// carries. Answers are never cached: they show live or per-consumer data.
func Secure(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

//go:embed assets
var assets embed.FS

// Assets serves the shared stylesheet under prefix (e.g. /portal/ui/).
func Assets(prefix string) http.Handler {
	sub, _ := fs.Sub(assets, "assets")
	files := Files(prefix, sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Secure(w.Header())
		files.ServeHTTP(w, r)
	})
}

// Files serves fsys under prefix, Revalidated.
func Files(prefix string, fsys fs.FS) http.Handler {
	return Revalidated(http.StripPrefix(prefix, http.FileServerFS(fsys)))
}

// Revalidated lets browsers keep what h serves (scripts, stylesheets)
// but check it again each time, so a new gateway's files are used at once.
func Revalidated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// SameToken reports whether got is want, comparing their digests in
// constant time (independent of where they differ and of their lengths).
func SameToken(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// WriteJSON answers v as indented JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// CSRF issues and checks tokens for state-changing calls by the
// double-submit pattern, signed: a random cookie (HttpOnly, SameSite
// Strict) and a token derived from it with a key only the gateway knows,
// which pages carry in a meta tag and scripts send back in the
// X-CSRF-Token header. A call must also pass net/http's cross-origin
// protection (Sec-Fetch-Site, Origin). The key lives as long as the
// process, so tokens survive reloads.
type CSRF struct {
	key    [32]byte
	cookie string // the cookie's name
	path   string // the cookie's path
	xop    *http.CrossOriginProtection
}

// TokenHeader is the request header a state-changing call carries its
// token in.
const TokenHeader = "X-CSRF-Token"

// NewCSRF returns a CSRF whose cookie, name, is scoped to path.
func NewCSRF(name, path string) *CSRF {
	c := &CSRF{cookie: name, path: path, xop: http.NewCrossOriginProtection()}
	_, _ = rand.Read(c.key[:])
	return c
}

// Token returns the token a page embeds, setting the cookie it is derived
// from when the browser has none yet.
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.cookie); err == nil && len(ck.Value) == 43 {
		return c.sign(ck.Value)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: c.cookie, Value: v, Path: c.path, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return c.sign(v)
}

func (c *CSRF) sign(v string) string {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reports why a state-changing call must be refused, or "" when it
// carries a valid token and comes from the page's own origin.
func (c *CSRF) Check(r *http.Request) string {
	return c.Valid(r, r.Header.Get(TokenHeader))
}

// Valid is Check for a token the call carries elsewhere (a form field).
func (c *CSRF) Valid(r *http.Request, got string) string {
	if err := c.xop.Check(r); err != nil {
		return "The call came from another site (" + err.Error() + "); state-changing calls are accepted only from the page itself."
	}
	ck, err := r.Cookie(c.cookie)
	if err != nil || got == "" {
		return "The call carries no CSRF token: reload the page and try again (its " + TokenHeader + " header must match the page's token)."
	}
	if !hmac.Equal([]byte(got), []byte(c.sign(ck.Value))) {
		return "The call's CSRF token does not match this browser's: reload the page and try again."
	}
	return ""
}

// Under reports whether path is base or below it.
func Under(path, base string) bool {
	return path == base || strings.HasPrefix(path, base+"/")
}
