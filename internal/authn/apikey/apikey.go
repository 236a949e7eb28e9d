// Package apikey is the api_key authenticator: a key from a header, query
// parameter or cookie, checked against the store's directory by id and
// keyed hash. The key is removed from the request once read, so it never
// reaches the upstream.
package apikey

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/store"
)

// Keys finds key records; *store.Directory implements it.
type Keys interface {
	Key(id string) (store.Key, bool)
	// MarkUsed records an accepted use, for self-service's "last used".
	MarkUsed(id string, t time.Time)
}

// Authenticator checks API keys.
type Authenticator struct {
	name       string
	kind, from string // header|query|cookie, and the name there
	keys       Keys
	hasher     store.Hasher
	now        func() time.Time
}

// New returns an Authenticator reading keys at location kind:from.
func New(name, kind, from string, keys Keys, hasher store.Hasher) *Authenticator {
	if kind == "header" {
		from = http.CanonicalHeaderKey(from)
	}
	return &Authenticator{name: name, kind: kind, from: from, keys: keys, hasher: hasher, now: time.Now}
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() string {
	return `ApiKey realm="rampart", in="` + a.kind + `", name="` + a.from + `"`
}

// Hint implements authn.Authenticator.
func (a *Authenticator) Hint() string { return "an API key (" + a.kind + " " + a.from + ")" }

// Authenticate implements authn.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*reqctx.Identity, error) {
	presented, ok := a.take(r)
	if !ok {
		return nil, authn.ErrNoCredentials
	}
	id, secret, ok := store.ParseKey(presented)
	if !ok {
		return nil, authn.Invalid("malformed_key", "the API key is not in the rk_<id>_<secret> format")
	}
	k, found := a.keys.Key(id)
	if !found || !a.hasher.Match(secret, k.Hash) {
		f := authn.Invalid("unknown_key", "the API key is not valid")
		f.KeyID = id
		return nil, f
	}
	now := a.now()
	if st := k.State(now); st != "active" {
		return nil, &authn.Failure{Reason: "key_" + st, Description: "the API key is " + st, Consumer: k.Consumer, KeyID: id}
	}
	a.keys.MarkUsed(id, now)
	return &reqctx.Identity{Consumer: k.Consumer, Method: "api_key", KeyID: id, Scopes: slices.Clip(k.Scopes),
		ExpiresAt: k.ExpiresAt}, nil
}

// take reads the key and removes it from the request.
func (a *Authenticator) take(r *http.Request) (string, bool) {
	switch a.kind {
	case "header":
		v := r.Header.Get(a.from)
		if v == "" {
			return "", false
		}
		r.Header.Del(a.from)
		return strings.TrimSpace(v), true
	case "query":
		q := r.URL.Query()
		v := q.Get(a.from)
		if v == "" {
			return "", false
		}
		q.Del(a.from)
		r.URL.RawQuery = q.Encode()
		return v, true
	case "cookie":
		c, err := r.Cookie(a.from)
		if err != nil || c.Value == "" {
			return "", false
		}
		removeCookie(r, a.from)
		return c.Value, true
	}
	return "", false
}

func removeCookie(r *http.Request, name string) {
	var kept []string
	for _, c := range r.Cookies() {
		if c.Name != name {
			kept = append(kept, (&http.Cookie{Name: c.Name, Value: c.Value}).String())
		}
	}
	r.Header.Del("Cookie")
	if len(kept) > 0 {
		r.Header.Set("Cookie", strings.Join(kept, "; "))
	}
}
