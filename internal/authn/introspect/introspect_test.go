package introspect

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
)

// as is an RFC 7662 endpoint: it checks the gateway's client
// credentials and answers from a table of tokens.
type as struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	tokens map[string]map[string]any
	status int           // when not 0, every call gets this status
	delay  time.Duration // before answering
	raw    string        // when not "", the body of every answer
}

func newAS(t *testing.T, clientAuth string) *as {
	a := &as{tokens: map[string]map[string]any{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		a.mu.Lock()
		status, delay, raw := a.status, a.delay, a.raw
		a.mu.Unlock()
		time.Sleep(delay)
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", 400)
			return
		}
		id, secret, ok := r.BasicAuth()
		// RFC 6749 §2.3.1: both are form-encoded inside Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if clientAuth == "post" {
			id, secret, ok = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), true
		}
		if !ok || id != "gateway" || secret != "s3cret:&" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if raw != "" {
			fmt.Fprint(w, raw)
			return
		}
		a.mu.Lock()
		ans, ok := a.tokens[r.PostForm.Get("token")]
		a.mu.Unlock()
		if !ok {
			ans = map[string]any{"active": false}
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *as) set(f func(a *as)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAuth(endpoint, clientAuth string, clk *clock) *Authenticator {
	return New(Options{Name: "opaque", Endpoint: endpoint, ClientID: "gateway", ClientSecret: "s3cret:&", ClientAuth: clientAuth,
		Issuer: "https://as.example", Audiences: []string{"orders"}, ClockSkew: 30 * time.Second, ConsumerClaim: "sub",
		MaxTokenBytes: 4096, CacheTTL: time.Minute, NegativeTTL: 10 * time.Second, Timeout: 300 * time.Millisecond, Now: clk.now})
}

func request(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/v1/orders", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func reason(err error) string {
	var f *authn.Failure
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, authn.ErrNoCredentials):
		return "missing"
	case errors.As(err, &f) && f.Unavailable:
		return "unavailable:" + f.Reason
	case errors.As(err, &f):
		return f.Reason
	}
	return err.Error()
}

func TestAnswers(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	exp := clk.now().Add(time.Hour).Unix()
	good := func(extra map[string]any) map[string]any {
		m := map[string]any{"active": true, "sub": "alice", "iss": "https://as.example", "aud": []string{"orders", "x"},
			"scope": "orders:write orders:read", "exp": exp, "token_type": "Bearer"}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tokens := map[string]map[string]any{
		"good":        good(nil),
		"no-exp":      good(map[string]any{"exp": nil}),
		"refresh":     good(map[string]any{"token_type": "refresh_token"}),
		"other-iss":   good(map[string]any{"iss": "https://evil.example"}),
		"other-aud":   good(map[string]any{"aud": "billing"}),
		"expired":     good(map[string]any{"exp": clk.now().Add(-time.Minute).Unix()}),
		"future-nbf":  good(map[string]any{"nbf": clk.now().Add(time.Hour).Unix()}),
		"no-sub":      good(map[string]any{"sub": nil}),
		"cert-bound":  good(map[string]any{"cnf": map[string]string{"x5t#S256": "abc"}}),
		"dpop-bound":  good(map[string]any{"cnf": map[string]string{"jkt": "abc"}}),
		"bad-exp":     good(map[string]any{"exp": "tomorrow"}),
		"active-text": {"active": "true", "sub": "alice"},
		"sub-number":  good(map[string]any{"sub": 42}),
	}
	for _, clientAuth := range []string{"basic", "post"} {
		t.Run(clientAuth, func(t *testing.T) {
			srv := newAS(t, clientAuth)
			srv.tokens = tokens
			a := newAuth(srv.srv.URL, clientAuth, clk)
			for _, tc := range []struct{ token, want string }{
				{"", "missing"},
				{"good", "accepted"},
				{"no-exp", "accepted"},
				{"unknown", "inactive"},
				{"refresh", "bad_type"},
				{"other-iss", "wrong_issuer"},
				{"other-aud", "wrong_audience"},
				{"expired", "expired"},
				{"future-nbf", "not_yet_valid"},
				{"no-sub", "no_consumer"},
				{"cert-bound", "certificate_required"},
				{"dpop-bound", "dpop_required"},
				{"bad-exp", "unavailable:introspection_unavailable"},
				{"active-text", "unavailable:introspection_unavailable"},
				{"sub-number", "unavailable:introspection_unavailable"},
				{"has space", "malformed"},
				{"a\"b", "malformed"},
				{"=abc", "malformed"},
				{string(make([]byte, 5000)), "too_large"},
			} {
				id, err := a.Authenticate(request(tc.token))
				if got := reason(err); got != tc.want {
					t.Errorf("token %.20q: %s, want %s", tc.token, got, tc.want)
				}
				if tc.token == "good" && err == nil {
					if id.Consumer != "alice" || fmt.Sprint(id.Scopes) != "[orders:read orders:write]" || id.Method != "oauth2_introspection" ||
						id.ExpiresAt.Unix() != exp || id.Claims["iss"] != "https://as.example" {
						t.Errorf("identity %+v", id)
					}
				}
			}
		})
	}
}

func TestCaching(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	srv := newAS(t, "basic")
	srv.tokens["short"] = map[string]any{"active": true, "sub": "bob", "iss": "https://as.example", "aud": "orders",
		"exp": clk.now().Add(20 * time.Second).Unix()}
	srv.tokens["long"] = map[string]any{"active": true, "sub": "bob", "iss": "https://as.example", "aud": "orders",
		"exp": clk.now().Add(time.Hour).Unix()}
	a := newAuth(srv.srv.URL, "basic", clk)
	use := func(tok, want string, calls int64) {
		t.Helper()
		if got := reason(func() error { _, err := a.Authenticate(request(tok)); return err }()); got != want {
			t.Fatalf("%s: %s, want %s", tok, got, want)
		}
		if n := srv.calls.Load(); n != calls {
			t.Fatalf("%s: %d calls to the endpoint, want %d", tok, n, calls)
		}
	}
	use("long", "accepted", 1)
	use("long", "accepted", 1) // cached
	use("short", "accepted", 2)
	use("unknown", "inactive", 3)
	use("unknown", "inactive", 3) // negative cache
	clk.add(11 * time.Second)
	use("unknown", "inactive", 4) // negative entry expired after 10s
	clk.add(10 * time.Second)
	// "short" expired at 20s: the cached answer never outlives exp (the
	// skew is 30s, so the endpoint is asked again and says it expired).
	use("short", "accepted", 5)
	clk.add(31 * time.Second)
	use("short", "expired", 6)
	// "long" is re-asked once cache_ttl (1m) has passed.
	use("long", "accepted", 6)
	clk.add(10 * time.Second)
	use("long", "accepted", 7)
	// Revocation at the issuer is seen within cache_ttl.
	srv.set(func(s *as) { s.tokens["long"] = map[string]any{"active": false} })
	use("long", "accepted", 7)
	clk.add(61 * time.Second)
	use("long", "inactive", 8)
}

func TestConcurrentCallsShareOne(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	srv := newAS(t, "basic")
	srv.delay = 100 * time.Millisecond
	srv.tokens["tok"] = map[string]any{"active": true, "sub": "carol", "iss": "https://as.example", "aud": "orders"}
	a := newAuth(srv.srv.URL, "basic", clk)
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for range 50 {
		wg.Go(func() {
			if _, err := a.Authenticate(request("tok")); err == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 50 || srv.calls.Load() != 1 {
		t.Fatalf("%d accepted with %d calls; want 50 with 1", accepted.Load(), srv.calls.Load())
	}
}

func TestEndpointFailures(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	t.Run("wrong client secret", func(t *testing.T) {
		srv := newAS(t, "basic")
		a := newAuth(srv.srv.URL, "basic", clk)
		a.o.ClientSecret = "wrong"
		if got := reason(func() error { _, err := a.Authenticate(request("x")); return err }()); got != "unavailable:introspection_unavailable" {
			t.Fatal(got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newAS(t, "basic")
		srv.delay = time.Second
		a := newAuth(srv.srv.URL, "basic", clk)
		start := time.Now()
		_, err := a.Authenticate(request("x"))
		if reason(err) != "unavailable:introspection_unavailable" || time.Since(start) > 900*time.Millisecond {
			t.Fatalf("%v after %v", err, time.Since(start))
		}
	})
	t.Run("not json", func(t *testing.T) {
		srv := newAS(t, "basic")
		srv.raw = "<html>"
		a := newAuth(srv.srv.URL, "basic", clk)
		if got := reason(func() error { _, err := a.Authenticate(request("x")); return err }()); got != "unavailable:introspection_unavailable" {
			t.Fatal(got)
		}
	})
	t.Run("breaker", func(t *testing.T) {
		srv := newAS(t, "basic")
		srv.status = 500
		a := newAuth(srv.srv.URL, "basic", clk)
		for i := range 20 {
			_, err := a.Authenticate(request(fmt.Sprint("tok", i)))
			if r := reason(err); r != "unavailable:introspection_unavailable" {
				t.Fatalf("call %d: %s", i, r)
			}
		}
		if n := srv.calls.Load(); n != 5 {
			t.Fatalf("the breaker let %d calls through, want 5 before opening", n)
		}
		// After open_for one probe goes through; success closes it.
		srv.set(func(s *as) { s.status = 0 })
		clk.add(11 * time.Second)
		if got := reason(func() error { _, err := a.Authenticate(request("tok-new")); return err }()); got != "inactive" {
			t.Fatal(got)
		}
	})
}

func TestCertificateBoundAnswer(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	cert := &x509.Certificate{Raw: []byte("client certificate")}
	srv := newAS(t, "basic")
	srv.tokens["bound"] = map[string]any{"active": true, "sub": "svc", "iss": "https://as.example", "aud": "orders",
		"cnf": map[string]string{"x5t#S256": authn.Thumbprint(cert)}}
	a := newAuth(srv.srv.URL, "basic", clk)
	r := request("bound")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if _, err := a.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	r.TLS.PeerCertificates = []*x509.Certificate{{Raw: []byte("another")}}
	if got := reason(func() error { _, err := a.Authenticate(r); return err }()); got != "certificate_mismatch" {
		t.Fatal(got)
	}
}

// FuzzAnswer: whatever the endpoint says, check never panics, and an
// accepted answer always says active: true and names a consumer.
func FuzzAnswer(f *testing.F) {
	f.Add(`{"active":true,"sub":"a","exp":1900000000,"scope":"x y","aud":["orders"],"iss":"https://as.example"}`)
	f.Add(`{"active":false}`)
	f.Add(`{"active":true,"sub":"a","cnf":{"x5t#S256":1}}`)
	f.Add(`[]`)
	a := newAuth("http://127.0.0.1:1", "basic", &clock{t: time.Unix(1_800_000_000, 0)})
	f.Fuzz(func(t *testing.T, body string) {
		ans, err := a.check([]byte(body), time.Unix(1_800_000_000, 0))
		if err != nil || ans.refused != nil {
			return
		}
		m, err := authn.ParseObject([]byte(body))
		if err != nil || string(m["active"]) != "true" || ans.id.Consumer == "" {
			t.Fatalf("accepted %q", body)
		}
	})
}
