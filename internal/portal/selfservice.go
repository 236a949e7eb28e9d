package portal

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/webui"
)

// Account is what self-service shows a consumer of itself. It never holds
// a secret: keys are listed by id and metadata.
type Account struct {
	Consumer      string                 `json:"consumer"`
	Authenticator string                 `json:"authenticator"`
	Method        string                 `json:"method"`
	KeyID         string                 `json:"key_id,omitempty"` // the key this call was made with
	Scopes        []string               `json:"scopes"`
	Roles         []string               `json:"roles"`
	Keys          []KeyView              `json:"keys"`
	KeysManaged   bool                   `json:"keys_managed"` // a store holds keys
	Quotas        []ratelimit.QuotaUsage `json:"quotas"`
	APIs          []Reach                `json:"apis"`
}

// Reach says whether the caller, with the credential it signed in with,
// meets what an API's policy asks, and if not, what is missing.
type Reach struct {
	Route     string   `json:"route"`
	Title     string   `json:"title"`
	Callable  bool     `json:"callable"`
	Missing   []string `json:"missing,omitempty"`
	Condition bool     `json:"condition,omitempty"` // a CEL condition decides each request too
}

// reach checks id against what each API's policy asks: an authenticator
// that accepted this credential, every scope, one of the roles. A role
// must also allow the method and path, and a condition is decided per
// request: those the gateway checks when the request comes.
func reach(apis []*API, id *reqctx.Identity) []Reach {
	out := make([]Reach, 0, len(apis))
	for _, a := range apis {
		r := Reach{Route: a.Route, Title: a.Title, Condition: a.Auth.Condition}
		if !a.Auth.Anonymous {
			accepted := false
			var ways []string
			for _, m := range a.Auth.Methods {
				accepted = accepted || m.Authenticator == id.Authenticator
				ways = append(ways, m.Describe())
			}
			if !accepted {
				r.Missing = append(r.Missing, "a credential it accepts: "+strings.Join(ways, ", or "))
			}
			for _, sc := range a.Auth.Scopes {
				if !slices.Contains(id.Scopes, sc) {
					r.Missing = append(r.Missing, "scope "+sc)
				}
			}
			if len(a.Auth.Roles) > 0 && !slices.ContainsFunc(a.Auth.Roles, func(role string) bool { return slices.Contains(id.Roles, role) }) {
				r.Missing = append(r.Missing, "one of the roles "+strings.Join(a.Auth.Roles, ", "))
			}
		}
		r.Callable = len(r.Missing) == 0
		out = append(out, r)
	}
	return out
}

// KeyView is one of the consumer's keys as self-service shows it.
type KeyView struct {
	store.KeyInfo
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Rotated is the one answer that shows a key's secret.
type Rotated struct {
	Key      string        `json:"key"`
	Info     store.KeyInfo `json:"info"`
	Replaced store.KeyInfo `json:"replaced"`
}

func (p *Portal) selfServiceRoutes() {
	if p.o.Authenticate == nil {
		return
	}
	b := p.base
	p.mux.Handle("GET "+b+"/api/me", p.o.Authenticate(http.HandlerFunc(p.account)))
	rotate := p.o.Authenticate(http.HandlerFunc(p.rotate))
	p.mux.Handle("POST "+b+"/api/me/keys/{id}/rotate", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := p.o.CSRF.Check(r); why != "" {
			refuseCSRF(w, r, why)
			return
		}
		rotate.ServeHTTP(w, r)
	}))
}

// refuseCSRF answers a state-changing call without a valid CSRF token.
func refuseCSRF(w http.ResponseWriter, r *http.Request, why string) {
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.CSRFRefused, Reason: "csrf", Stage: "portal", Rule: "csrf", Detail: why})
}

func (p *Portal) account(w http.ResponseWriter, r *http.Request) {
	id := reqctx.From(r.Context()).Identity
	acc := Account{Consumer: id.Consumer, Authenticator: id.Authenticator, Method: id.Method, KeyID: id.KeyID,
		Scopes: nonNil(id.Scopes), Roles: nonNil(id.Roles), Keys: []KeyView{}, Quotas: []ratelimit.QuotaUsage{}, APIs: reach(p.apis, id)}
	if p.o.Keys != nil {
		acc.KeysManaged = true
		keys, err := p.o.Keys.ListKeys(r.Context(), id.Consumer)
		if err != nil {
			p.unavailable(w, r, "Your keys could not be read from the store. Retry shortly.")
			return
		}
		now := time.Now()
		for _, k := range keys {
			acc.Keys = append(acc.Keys, KeyView{KeyInfo: k.Info(now), LastUsed: p.o.Keys.LastUsed(k.ID)})
		}
	}
	if p.o.Quotas != nil {
		q, err := p.o.Quotas(r.Context(), id.Consumer)
		if err != nil {
			p.unavailable(w, r, "Your quota usage could not be read from the shared state. Retry shortly.")
			return
		}
		acc.Quotas = q
	}
	webui.WriteJSON(w, http.StatusOK, acc)
}

func (p *Portal) rotate(w http.ResponseWriter, r *http.Request) {
	id := reqctx.From(r.Context()).Identity
	keyID := r.PathValue("id")
	if p.o.Keys == nil {
		p.notFound(w, r, "No key store is configured, so there are no keys to rotate here.")
		return
	}
	// The key must be the caller's own. Another consumer's key gets the
	// same answer as a key that does not exist: ids are not confirmed.
	keys, err := p.o.Keys.ListKeys(r.Context(), id.Consumer)
	if err != nil {
		p.unavailable(w, r, "Your keys could not be read from the store. Retry shortly.")
		return
	}
	own := false
	for _, k := range keys {
		own = own || k.ID == keyID
	}
	if !own {
		p.notFound(w, r, "You have no key with this id. Your keys are listed by GET "+p.base+"/api/me.")
		return
	}
	plain, next, old, err := p.o.Keys.Rotate(r.Context(), keyID, RotationOverlap)
	switch {
	case errors.Is(err, store.ErrNotFound):
		p.notFound(w, r, "You have no key with this id. Your keys are listed by GET "+p.base+"/api/me.")
		return
	case err != nil:
		writeProblem(w, r, problem.New(problem.BadRequest, "The key was not rotated: "+err.Error()+"."))
		return
	}
	if p.o.Publish != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		p.o.Publish(observe.Event{Type: "consumer.key_rotated", Stage: "portal", Rule: old.ID, Consumer: id.Consumer, ClientIP: host,
			RequestID: w.Header().Get("X-Request-Id"), Method: r.Method, Path: r.URL.Path,
			Detail: "A consumer rotated its own API key through the portal; the replacement is " + next.ID + " and the old key works for " + RotationOverlap.String() + "."})
	}
	now := time.Now()
	webui.WriteJSON(w, http.StatusCreated, Rotated{Key: plain, Info: next.Info(now), Replaced: old.Info(now)})
}

func (p *Portal) unavailable(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("Retry-After", "1")
	writeProblem(w, r, problem.New(problem.Unavailable, detail))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
