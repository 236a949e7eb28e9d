package cache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Options configure one route's cache stage.
type Options struct {
	Route string
	// Generation tells entries of an earlier definition of the route's
	// cache apart (the config's hash of it): a reload that changes the
	// route never serves what the old one stored.
	Generation string
	// TTL is the freshness of responses whose upstream gave none; 0
	// keeps only what the upstream marks fresh.
	TTL time.Duration
	// Shared keeps one entry for every caller of the route; otherwise an
	// authenticated caller's responses are kept for that consumer alone.
	Shared bool
	// KeyHeaders are request headers that are part of the key.
	KeyHeaders []string
	// MaxBody is the largest body kept; larger responses pass unkept.
	MaxBody int64
	// StaleWhileRevalidate and StaleIfError apply to responses whose
	// upstream gave none.
	StaleWhileRevalidate, StaleIfError time.Duration
	// Count counts each request by outcome: hit, miss, bypass, stored.
	Count func(outcome string)
	Now   func() time.Time
}

// Stage answers a route's GET requests from the store when it can, and
// stores what it may of the rest.
type Stage struct {
	o      Options
	store  *Store
	prefix string
}

// New returns a route's cache stage over store.
func New(store *Store, o Options) *Stage {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	for i, h := range o.KeyHeaders {
		o.KeyHeaders[i] = http.CanonicalHeaderKey(h)
	}
	return &Stage{o: o, store: store, prefix: KeyPrefix(o.Route) + o.Generation + "\x00"}
}

// KeyPrefix is the prefix of every key a route's entries are stored
// under: purging a route deletes it.
func KeyPrefix(route string) string { return route + "\x00" }

// Name names the stage in traces and docs/architecture.md.
func (s *Stage) Name() string { return "cache" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqCC := parseCacheControl(r.Header)
		if reason := bypass(r, reqCC); reason != "" {
			w.Header()["Cache-Status"] = []string{"Rampart; fwd=" + reason}
			s.o.Count("bypass")
			next.ServeHTTP(w, r)
			return
		}
		st := reqctx.From(r.Context())
		key := s.key(r, st)
		revalidate := reqCC.has("no-cache") || reqCC["max-age"] == "0"
		now := s.o.Now()
		var stale *Entry // what the store has past its freshness
		if !revalidate {
			if e := s.store.Get(r.Context(), key, r.Header, now); e != nil {
				if e.FreshAt(now) {
					s.serve(w, r, e, now, "")
					return
				}
				stale = e
			}
		}
		f, lead := s.store.join(key)
		if !lead {
			// Another request fetches this key: answer stale meanwhile if
			// the entry allows it, or wait for it, then answer from what
			// it stored, or fetch as well when it stored nothing (a
			// response for one caller is never handed to another).
			if stale != nil && stale.staleFor(now, stale.StaleWhileRevalidate) {
				s.serve(w, r, stale, now, "stale-while-revalidate")
				return
			}
			select {
			case <-f.done:
			case <-r.Context().Done():
				return
			}
			now = s.o.Now()
			if e := s.store.Get(r.Context(), key, r.Header, now); e != nil && e.FreshAt(now) && !revalidate {
				s.serve(w, r, e, now, "")
				return
			}
			s.fetch(w, r, next, st, key, now, stale)
			return
		}
		defer s.store.land(key, f)
		s.fetch(w, r, next, st, key, now, stale)
	})
}

// bypass says why a request does not use the cache at all (RFC 9211's
// fwd values), or "".
func bypass(r *http.Request, cc directives) string {
	switch {
	case r.Method != http.MethodGet:
		return "method"
	case r.Header.Get("Range") != "":
		return "request" // ranges are neither stored nor served from here
	case cc.has("no-store"):
		return "request"
	}
	return ""
}

// key is the request's cache key: the route's prefix, the host, the path
// as the gateway normalised it and the query as sent, the key headers,
// and the consumer unless the route is shared.
func (s *Stage) key(r *http.Request, st *reqctx.State) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString(strings.ToLower(r.Host))
	b.WriteByte(0)
	b.WriteString(r.URL.EscapedPath())
	b.WriteByte('?')
	b.WriteString(r.URL.RawQuery)
	for _, h := range s.o.KeyHeaders {
		b.WriteByte(0)
		b.WriteString(joined(r.Header, h))
	}
	b.WriteByte(0)
	if !s.shared(st) {
		b.WriteString(st.Identity.Consumer)
	}
	return b.String()
}

// shared reports whether the request's entry serves every caller: the
// route says so, or the caller is anonymous.
func (s *Stage) shared(st *reqctx.State) bool { return s.o.Shared || st.Identity == nil }

// credentialed reports whether the request carries a caller's
// credentials, to the gateway or to the upstream.
func credentialed(r *http.Request, st *reqctx.State) bool {
	return st.Identity != nil || r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != ""
}

// serve answers from e: a 304 when the client's validators match. A
// stale entry's detail says why it was used.
func (s *Stage) serve(w http.ResponseWriter, r *http.Request, e *Entry, now time.Time, detail string) {
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs[:len(vs):len(vs)] // shared with every hit: clipped, never written
	}
	age := e.Age(now)
	h["Age"] = []string{strconv.FormatInt(int64(age/time.Second), 10)}
	cs := "Rampart; hit; ttl=" + strconv.FormatInt(int64((e.Fresh-age)/time.Second), 10)
	if detail != "" {
		cs += "; detail=" + detail
	}
	h["Cache-Status"] = []string{cs}
	s.o.Count("hit")
	if notModified(r.Header, e.Header) {
		delete(h, "Content-Length")
		delete(h, "Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(e.Body))}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
}

// notModified evaluates the request's validators against a stored
// response (RFC 9110 §13.2.2): If-None-Match first, weak comparison;
// If-Modified-Since only without it.
func notModified(req, res http.Header) bool {
	if inm := req.Get("If-None-Match"); inm != "" {
		etag := strings.TrimPrefix(res.Get("ETag"), "W/")
		if etag == "" {
			return false
		}
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
		return false
	}
	ims, err := http.ParseTime(req.Get("If-Modified-Since"))
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(res.Get("Last-Modified"))
	return err == nil && !lm.After(ims)
}

// fetch sends the request on and stores the response when it may. With
// a stale entry it asks the upstream whether the entry is still good
// (its validators), and answers with the entry when the upstream says so
// (304) or fails within the entry's stale-if-error.
func (s *Stage) fetch(w http.ResponseWriter, r *http.Request, next http.Handler, st *reqctx.State, key string, now time.Time, stale *Entry) {
	s.o.Count("miss")
	c := &capture{w: w, h: http.Header{}, max: s.o.MaxBody}
	if stale != nil {
		etag, lm := stale.validators()
		if etag != "" || lm != "" {
			c.revalidating = true
			st.SetUpstream("If-None-Match", nonEmpty(etag))
			st.SetUpstream("If-Modified-Since", nonEmpty(lm))
		}
		c.fallback = stale.staleFor(now, stale.StaleIfError)
	}
	// What the upstream said about caching, before the stages inside
	// change the head for the client (security headers turn an
	// authenticated answer's Cache-Control into no-store for the caches
	// downstream, which this one is not): the proxy runs response
	// filters in the order added, so this one runs first of those inside.
	var origin http.Header
	st.AddResponseFilter(func(h http.Header, _ *reqctx.State) {
		origin = http.Header{}
		for _, k := range cacheFields {
			if vs, ok := h[k]; ok {
				origin[k] = slices.Clone(vs)
			}
		}
	})
	c.decide = func(status int, h http.Header) {
		delete(h, "Cache-Tag") // the upstream's word to this cache, not the client's business
		if origin == nil {     // the gateway's own answer, not the upstream's: never kept
			h["Cache-Status"] = []string{"Rampart; fwd=uri-miss; detail=gateway"}
			return
		}
		d := storable(status, origin, now, s.o.TTL, credentialed(r, st), s.shared(st))
		c.keep, c.fresh = d.store, d.fresh
		cs := "Rampart; fwd=uri-miss"
		if !d.store {
			cs += "; detail=" + d.reason
		}
		h["Cache-Status"] = []string{cs}
	}
	next.ServeHTTP(c, r)
	switch {
	case c.held == http.StatusNotModified:
		s.refresh(w, r, st, key, stale, origin, c.h, now)
		return
	case c.held != 0:
		// the upstream failed: the stale entry answers in its place
		st.Problem = ""
		s.o.Count("stale")
		s.serve(w, r, stale, s.o.Now(), "stale-if-error; fwd-status="+strconv.Itoa(c.held))
		return
	}
	if !c.keep || c.over || !c.wrote || r.Context().Err() != nil {
		return
	}
	if cl := c.h.Get("Content-Length"); cl != "" && cl != strconv.Itoa(c.body.Len()) {
		return // cut short: never kept
	}
	e := &Entry{Status: c.status, Header: storedHeader(c.h), Body: c.body.Bytes(), Stored: now.Add(-upstreamAge(origin)), Fresh: c.fresh}
	s.describe(e, r, origin)
	for _, v := range append(origin.Values("Vary"), c.h.Values("Vary")...) {
		for name := range strings.SplitSeq(v, ",") {
			if name = http.CanonicalHeaderKey(strings.TrimSpace(name)); name != "" && !slices.Contains(e.Vary, name) {
				e.Vary = append(e.Vary, name)
				e.VaryValues = append(e.VaryValues, joined(r.Header, name))
			}
		}
	}
	if !e.FreshAt(s.o.Now()) {
		return
	}
	if s.store.Put(r.Context(), key, e, now) {
		s.o.Count("stored")
	}
}

// nonEmpty is v as a header's values, none when empty.
func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// describe sets what an entry's upstream said beside its freshness: how
// long it may serve stale, and the tags and path a purge selects by.
func (s *Stage) describe(e *Entry, r *http.Request, origin http.Header) {
	cc := parseCacheControl(origin)
	e.StaleWhileRevalidate = s.o.StaleWhileRevalidate
	if d, ok := cc.seconds("stale-while-revalidate"); ok {
		e.StaleWhileRevalidate = d
	}
	e.StaleIfError = s.o.StaleIfError
	if d, ok := cc.seconds("stale-if-error"); ok {
		e.StaleIfError = d
	}
	if cc.has("must-revalidate") || cc.has("proxy-revalidate") {
		e.StaleWhileRevalidate, e.StaleIfError = 0, 0 // RFC 9111 §5.2.2.2: never served stale
	}
	e.Path = r.URL.EscapedPath()
	for _, v := range origin.Values("Cache-Tag") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && len(e.Tags) < maxTags && !slices.Contains(e.Tags, t) {
				e.Tags = append(e.Tags, t)
			}
		}
	}
}

// maxTags bounds the tags kept per entry.
const maxTags = 32

// refresh handles the upstream's 304 to a revalidation: the stale entry
// is good again, with the freshness the 304 gives, and answers.
func (s *Stage) refresh(w http.ResponseWriter, r *http.Request, st *reqctx.State, key string, stale *Entry, origin, h http.Header, now time.Time) {
	// RFC 9111 §4.3.4: the stored response takes the 304's fields
	merged := http.Header{}
	for k, vs := range origin {
		merged[k] = vs
	}
	for k, vs := range stale.Header {
		if _, ok := merged[k]; !ok {
			merged[k] = vs
		}
	}
	d := storable(stale.Status, merged, now, s.o.TTL, credentialed(r, st), s.shared(st))
	e := *stale
	e.Header = stale.Header.Clone()
	for _, k := range []string{"Etag", "Last-Modified", "Expires", "Date"} {
		if vs, ok := h[k]; ok {
			e.Header[k] = vs
		}
	}
	e.Stored, e.Fresh = now.Add(-upstreamAge(origin)), d.fresh
	s.describe(&e, r, merged)
	e.Tags = stale.Tags
	if d.store {
		if s.store.Put(r.Context(), key, &e, now) {
			s.o.Count("stored")
		}
	} else {
		s.store.Delete(r.Context(), key)
	}
	s.o.Count("revalidated")
	s.serve(w, r, &e, s.o.Now(), "revalidated")
}

// cacheFields are the upstream's fields that decide whether and how long
// its response is kept.
var cacheFields = []string{"Cache-Control", "Expires", "Date", "Age", "Vary", "Set-Cookie", "Cache-Tag"}

// perResponse are fields of a response that belong to the one exchange,
// never to a stored copy.
var perResponse = []string{"Age", "Cache-Status", "Connection", "Keep-Alive", "Trailer", "Transfer-Encoding", "Set-Cookie", "X-Request-Id", "Cache-Tag"}

func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range perResponse {
		delete(out, k)
	}
	return out
}

// capture hands the inner stages a header map of their own, so that what
// is stored is exactly the response they produced (after the response
// filters), without the fields outer stages set for this request only,
// and copies the body aside while it is sent.
type capture struct {
	w      http.ResponseWriter
	h      http.Header
	status int
	wrote  bool
	decide func(status int, h http.Header)
	keep   bool
	fresh  time.Duration
	body   bytes.Buffer
	max    int64
	over   bool
	// revalidating: the upstream was asked with a stale entry's
	// validators, so its 304 is the cache's, not the client's.
	// fallback: a stale entry may answer in place of an upstream error.
	// held is the status of a response kept from the client for either.
	revalidating, fallback bool
	held                   int
}

func (c *capture) Header() http.Header { return c.h }

func (c *capture) WriteHeader(status int) {
	if c.wrote {
		return
	}
	if status >= 100 && status < 200 {
		c.w.WriteHeader(status) // interim: nothing to keep
		return
	}
	if c.revalidating && status == http.StatusNotModified || c.fallback && status >= 500 {
		c.held = status
		return
	}
	c.wrote, c.status = true, status
	c.decide(status, c.h)
	dst := c.w.Header()
	for k, vs := range c.h {
		dst[k] = vs
	}
	c.w.WriteHeader(status)
}

func (c *capture) Write(p []byte) (int, error) {
	if !c.wrote && c.held == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.held != 0 {
		return 0, reqctx.ErrResponseReplaced // the stale entry answers
	}
	if c.keep && !c.over {
		if int64(c.body.Len()+len(p)) > c.max {
			c.over = true
			c.body = bytes.Buffer{}
		} else {
			c.body.Write(p)
		}
	}
	return c.w.Write(p)
}

// Flush passes a flush on, so streamed responses stay streamed.
func (c *capture) Flush() {
	if c.held != 0 {
		return
	}
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (c *capture) Unwrap() http.ResponseWriter { return c.w }
