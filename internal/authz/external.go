package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/authn/tokencache"
	"github.com/rampart-gw/rampart/internal/breaker"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// ExternalOptions configures an External.
type ExternalOptions struct {
	Name     string // the policy, for logs
	URL      string
	Timeout  time.Duration
	Headers  []string // request headers sent along
	CacheTTL time.Duration
	FailOpen bool
	Client   *http.Client
	Log      *slog.Logger
}

// External asks an HTTP authorization service, in the manner of Envoy's
// ext_authz, with a JSON contract (docs/access-control.md):
//
//	POST {url}  {"method", "path", "host", "query", "headers", "client_ip", "route",
//	             "consumer": {"id", "authenticator", "roles", "scopes", "attributes"}}
//	200         {"allow": true|false, "reason": "...", "headers": {"X-...": "..."}}
//
// Any other answer, a timeout, or an open breaker is a failure: the
// request gets a 503 (fail closed) unless fail_open says otherwise.
// Decisions are cached for cache_ttl by a hash of everything sent.
type External struct {
	o       ExternalOptions
	cache   *tokencache.Cache[*Decision]
	breaker *breaker.Breaker
}

// maxAnswer bounds the service's answer.
const maxAnswer = 64 << 10

// NewExternal returns an External.
func NewExternal(o ExternalOptions) *External {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	o.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	for i, h := range o.Headers {
		o.Headers[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	// Half of at least 5 calls in 10s failing opens the breaker for 5s;
	// one probe then decides.
	e := &External{o: o, breaker: breaker.New(config.CircuitBreaker{FailureRatio: 0.5, MinRequests: 5,
		Window: config.Duration(10 * time.Second), OpenFor: config.Duration(5 * time.Second), HalfOpenRequests: 1})}
	if o.CacheTTL > 0 {
		e.cache = tokencache.New[*Decision](10000)
	}
	return e
}

type checkRequest struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Host     string            `json:"host"`
	Query    string            `json:"query,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	ClientIP string            `json:"client_ip"`
	Route    string            `json:"route"`
	Consumer *checkConsumer    `json:"consumer,omitempty"`
}

type checkConsumer struct {
	ID            string            `json:"id"`
	Authenticator string            `json:"authenticator"`
	Roles         []string          `json:"roles"`
	Scopes        []string          `json:"scopes"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

type checkAnswer struct {
	Allow   *bool             `json:"allow"`
	Reason  string            `json:"reason"`
	Headers map[string]string `json:"headers"`
}

// Decide asks the service (or the cache) about r.
func (e *External) Decide(r *http.Request, st *reqctx.State) *Decision {
	req := checkRequest{Method: r.Method, Path: r.URL.Path, Host: r.Host, Query: r.URL.RawQuery,
		ClientIP: st.AccessRecord.ClientIP, Route: st.Route}
	for _, h := range e.o.Headers {
		if v := r.Header.Values(h); len(v) > 0 {
			if req.Headers == nil {
				req.Headers = map[string]string{}
			}
			req.Headers[h] = strings.Join(v, ", ")
		}
	}
	if id := st.Identity; id != nil {
		req.Consumer = &checkConsumer{ID: id.Consumer, Authenticator: id.Authenticator, Roles: orEmpty(id.Roles),
			Scopes: orEmpty(id.Scopes), Attributes: id.Attributes}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return e.failed("encode", err)
	}
	var key [32]byte
	if e.cache != nil {
		key = sha256.Sum256(body)
		if d, ok := e.cache.Get(key, time.Now()); ok {
			return d
		}
	}
	if !e.breaker.Allow(time.Now()) {
		return e.failed("breaker_open", errors.New("breaker open"))
	}
	d, err := e.call(r.Context(), body)
	e.breaker.Record(time.Now(), err == nil)
	if err != nil {
		return e.failed("unavailable", err)
	}
	if e.cache != nil {
		e.cache.Put(key, d, time.Now().Add(e.o.CacheTTL))
	}
	return d
}

func (e *External) call(ctx context.Context, body []byte) (*Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.o.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := e.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxAnswer))
		return nil, errors.New("status " + res.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxAnswer {
		return nil, errors.New("answer too large")
	}
	var a checkAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.Allow == nil {
		return nil, errors.New("answer is not {\"allow\": bool, ...}")
	}
	if !*a.Allow {
		detail := "The authorization service refused the request."
		if reason := printable(a.Reason, 200); reason != "" {
			detail += " Its reason: " + reason
		}
		return deny("external", "deny", problem.Forbidden, detail), nil
	}
	if len(a.Headers) == 0 {
		return allowExternal, nil
	}
	d := &Decision{Allow: true, Check: "external"}
	for k, v := range a.Headers {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if !upstreamHeaderAllowed(k) || printable(v, 4096) != v {
			return nil, errors.New("answer sets header " + printable(k, 64) + ", which the service may not set")
		}
		if d.Upstream == nil {
			d.Upstream = http.Header{}
		}
		d.Upstream[k] = []string{v}
	}
	return d, nil
}

// upstreamHeaderAllowed: the service may add headers for the upstream,
// never ones that change how the request is routed, framed or whom it is
// from.
func upstreamHeaderAllowed(k string) bool {
	if k == "" || strings.HasPrefix(k, "X-Rampart-") || strings.HasPrefix(k, "X-Forwarded-") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	switch k {
	case "Host", "Authorization", "Cookie", "Connection", "Content-Length", "Transfer-Encoding", "Te", "Upgrade",
		"Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Trailer", "Forwarded", "X-Request-Id", "Traceparent":
		return false
	}
	return true
}

func (e *External) failed(reason string, err error) *Decision {
	e.o.Log.Warn("external authorization failed", "policy", e.o.Name, "reason", reason, "error", err)
	if e.o.FailOpen {
		return &Decision{Allow: true, Check: "external", Rule: "fail_open"}
	}
	d := deny("external", reason, problem.AuthorizationUnavailable,
		"The authorization service could not be asked. Retry in a few seconds.")
	d.Header = map[string]string{"Retry-After": "5"}
	return d
}

// printable returns s when it is short printable text, else "".
func printable(s string, max int) string {
	if len(s) > max {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return ""
		}
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
