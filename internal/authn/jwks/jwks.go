// Package jwks keeps an identity provider's signing keys: fetched in the
// background, refreshed as the provider's Cache-Control says, refetched
// (rate-limited) when a token names a key not yet seen, and kept for a
// bounded time when the provider cannot be reached. For OIDC the JWKS
// address is discovered from the issuer first.
package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Errors of Lookup.
var (
	// ErrUnavailable: no usable keys, because the provider has not
	// answered (yet) or its keys went stale.
	ErrUnavailable = errors.New("the identity provider's signing keys are unavailable")
	// ErrUnknownKey: the keys are current and none has the asked id.
	ErrUnknownKey = errors.New("no signing key with this id")
)

// maxDocument bounds a JWKS or discovery document.
const maxDocument = 1 << 20

// Key is one public signing key.
type Key struct {
	ID     string
	Alg    string // the key's own alg restriction, or ""
	Public crypto.PublicKey
}

// Options configures a Set.
type Options struct {
	Name     string // the authenticator, for logs and metrics
	JWKSURI  string // the JWKS address; or
	Issuer   string // with Discover: the OIDC issuer to discover it from
	Discover bool
	Refresh  time.Duration // used when the response has no max-age
	StaleFor time.Duration // keys stay usable this long after the last successful fetch
	Timeout  time.Duration // one fetch
	// MinRefetch rate-limits fetches caused by unknown key ids. Default 5s.
	MinRefetch time.Duration
	Client     *http.Client
	Log        *slog.Logger
	Count      func(result string) // fetch outcomes for metrics; may be nil
}

type keySet struct {
	byID    map[string]Key
	fetched time.Time
}

// Set is a provider's current keys.
type Set struct {
	opts    Options
	keys    atomic.Pointer[keySet]
	mu      sync.Mutex
	call    *fetchCall // in flight, or nil
	lastTry time.Time  // start of the last fetch
	stop    chan struct{}
	wg      sync.WaitGroup
	now     func() time.Time
}

type fetchCall struct {
	done   chan struct{}
	err    error
	maxAge time.Duration
}

// New returns a Set; Start begins fetching.
func New(o Options) *Set {
	if o.MinRefetch == 0 {
		o.MinRefetch = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	o.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Set{opts: o, stop: make(chan struct{}), now: time.Now}
}

// Start fetches the keys in the background, now and on every refresh.
func (s *Set) Start() {
	s.wg.Add(1)
	go s.loop()
}

// Close stops the background refresh.
func (s *Set) Close() {
	close(s.stop)
	s.wg.Wait()
}

func (s *Set) loop() {
	defer s.wg.Done()
	retry := time.Second
	for {
		next := s.opts.Refresh
		maxAge, err := s.fetch()
		switch {
		case err != nil:
			next = min(retry, s.opts.Refresh)
			retry = min(retry*2, time.Minute)
		case maxAge > 0:
			next = min(max(maxAge, time.Minute), 24*time.Hour)
			retry = time.Second
		default:
			retry = time.Second
		}
		t := time.NewTimer(next)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fetch runs one fetch, or joins the one in flight, and waits for it.
func (s *Set) fetch() (time.Duration, error) {
	c := s.startFetch(true)
	select {
	case <-c.done:
		return c.maxAge, c.err
	case <-s.stop:
		return 0, errors.New("closed")
	}
}

// startFetch starts a fetch unless one is in flight; with force false it
// also respects MinRefetch, returning nil when too soon.
func (s *Set) startFetch(force bool) *fetchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.call != nil {
		return s.call
	}
	select {
	case <-s.stop: // closed: a request finishing on an old snapshot
		c := &fetchCall{done: make(chan struct{}), err: errors.New("closed")}
		close(c.done)
		return c
	default:
	}
	if !force && s.now().Sub(s.lastTry) < s.opts.MinRefetch {
		return nil
	}
	c := &fetchCall{done: make(chan struct{})}
	s.call, s.lastTry = c, s.now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		ks, maxAge, err := s.download(ctx)
		if err == nil {
			s.keys.Store(ks)
		}
		s.count(err)
		if err != nil {
			s.opts.Log.Warn("cannot fetch signing keys", "authenticator", s.opts.Name, "error", err)
		}
		s.mu.Lock()
		c.err, c.maxAge = err, maxAge
		s.call = nil
		s.mu.Unlock()
		close(c.done)
	}()
	return c
}

func (s *Set) count(err error) {
	if s.opts.Count == nil {
		return
	}
	if err != nil {
		s.opts.Count("error")
	} else {
		s.opts.Count("ok")
	}
}

// Lookup returns the key with id kid ("" matches a set of one key). It
// waits for a fetch only when there are no usable keys yet, or when kid
// is unknown and a refetch is allowed; ctx bounds the wait.
func (s *Set) Lookup(ctx context.Context, kid string) (Key, error) {
	ks := s.current()
	if ks != nil {
		if k, ok := ks.find(kid); ok {
			return k, nil
		}
	}
	c := s.startFetch(ks == nil)
	if c == nil {
		return Key{}, ErrUnknownKey
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return Key{}, ErrUnavailable
	}
	if ks = s.current(); ks == nil {
		return Key{}, ErrUnavailable
	}
	if k, ok := ks.find(kid); ok {
		return k, nil
	}
	return Key{}, ErrUnknownKey
}

// current returns the keys unless they are missing or stale.
func (s *Set) current() *keySet {
	ks := s.keys.Load()
	if ks == nil || s.now().Sub(ks.fetched) > s.opts.StaleFor {
		return nil
	}
	return ks
}

func (ks *keySet) find(kid string) (Key, bool) {
	if k, ok := ks.byID[kid]; ok {
		return k, true
	}
	if kid == "" && len(ks.byID) == 1 {
		for _, k := range ks.byID {
			return k, true
		}
	}
	return Key{}, false
}

func (s *Set) download(ctx context.Context) (*keySet, time.Duration, error) {
	uri := s.opts.JWKSURI
	if s.opts.Discover {
		var err error
		if uri, err = s.discover(ctx); err != nil {
			return nil, 0, err
		}
	}
	body, hdr, err := s.get(ctx, uri)
	if err != nil {
		return nil, 0, err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS from %s: %w", uri, err)
	}
	ks := &keySet{byID: map[string]Key{}, fetched: s.now()}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue
		}
		var raw any
		if err := jwk.Export(k, &raw); err != nil {
			continue
		}
		pub := publicOf(raw)
		if pub == nil {
			continue // symmetric or unknown: never used to verify
		}
		kid, _ := k.KeyID()
		key := Key{ID: kid, Public: pub}
		if alg, ok := k.Algorithm(); ok {
			key.Alg = alg.String()
		}
		ks.byID[kid] = key
	}
	if len(ks.byID) == 0 {
		return nil, 0, fmt.Errorf("JWKS from %s has no usable signing keys", uri)
	}
	return ks, maxAge(hdr.Get("Cache-Control")), nil
}

// publicOf returns the public key of an asymmetric key, or nil.
func publicOf(raw any) crypto.PublicKey {
	switch k := raw.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	}
	return nil
}

func (s *Set) discover(ctx context.Context) (string, error) {
	doc := strings.TrimSuffix(s.opts.Issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := s.get(ctx, doc)
	if err != nil {
		return "", err
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return "", fmt.Errorf("discovery document %s: %w", doc, err)
	}
	if meta.Issuer != s.opts.Issuer {
		return "", fmt.Errorf("discovery document %s names issuer %q, not the configured %q", doc, meta.Issuer, s.opts.Issuer)
	}
	if err := SafeURL(meta.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery document %s: jwks_uri: %w", doc, err)
	}
	return meta.JWKSURI, nil
}

// SafeURL accepts https URLs, and http ones only to loopback.
func SafeURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("%q must use https", s)
}

func (s *Set) get(ctx context.Context, uri string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: status %d", uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", uri, err)
	}
	if len(body) > maxDocument {
		return nil, nil, fmt.Errorf("GET %s: document larger than %d bytes", uri, maxDocument)
	}
	return body, resp.Header, nil
}

// maxAge reads max-age from a Cache-Control header; 0 when absent.
// no-store and no-cache mean refetch soon, which the caller's minimum
// interval bounds.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if d == "no-store" || d == "no-cache" {
			return time.Nanosecond
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}
