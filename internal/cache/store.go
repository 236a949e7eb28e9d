// Package cache is the gateway's response cache (stages 14 and 18 of the
// request path): a byte-bounded LRU store of responses, and a stage per
// route that answers from it, fetches once for concurrent misses and
// stores what HTTP caching (RFC 9111) allows a shared cache to keep.
//
// It is a shared cache in RFC 9111's sense, and errs on the side of not
// sharing: a response to an authenticated caller is kept for that
// consumer alone unless the route is declared shared, and then only when
// the upstream marked it public; a response with Set-Cookie, private or
// no-store is never kept; what is kept is the response as the client got
// it, after every response filter (fields removed, values masked).
package cache

import (
	"container/list"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is one stored response.
type Entry struct {
	Status int
	Header http.Header // as sent to the client, without per-request fields
	Body   []byte
	Stored time.Time     // when the response was received
	Fresh  time.Duration // its freshness lifetime
	// Vary names the request headers the response varies on (canonical),
	// and VaryValues their values in the request that fetched it.
	Vary       []string
	VaryValues []string
	// StaleWhileRevalidate and StaleIfError extend its use past its
	// freshness (RFC 5861): while a request fetches it anew, and in
	// place of an upstream error.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	// Path is the request path it answers, as the key holds it, and Tags
	// the upstream's Cache-Tag values: what a purge selects entries by.
	Path string
	Tags []string
}

// staleFor reports whether the entry, stale at now, is still within
// window past its freshness.
func (e *Entry) staleFor(now time.Time, window time.Duration) bool {
	return window > 0 && e.Age(now) < e.Fresh+window
}

// validators are the stored response's ETag and Last-Modified.
func (e *Entry) validators() (etag, lastModified string) {
	return e.Header.Get("Etag"), e.Header.Get("Last-Modified")
}

// size is what an entry counts against the store's budget.
func (e *Entry) size(key string) int64 {
	n := int64(len(key) + len(e.Body) + 256)
	for k, vs := range e.Header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v) + 16)
		}
	}
	for i := range e.Vary {
		n += int64(len(e.Vary[i]) + len(e.VaryValues[i]))
	}
	n += int64(len(e.Path))
	for _, t := range e.Tags {
		n += int64(len(t) + 16)
	}
	return n
}

// Age is how old the entry is at now (RFC 9111 §4.2.3, without upstream
// Age, which the stage folds into Stored).
func (e *Entry) Age(now time.Time) time.Duration { return max(now.Sub(e.Stored), 0) }

// FreshAt reports whether the entry is fresh at now.
func (e *Entry) FreshAt(now time.Time) bool { return e.Age(now) < e.Fresh }

// matches reports whether the entry's variant fits a request's headers.
func (e *Entry) matches(h http.Header) bool {
	for i, name := range e.Vary {
		if joined(h, name) != e.VaryValues[i] {
			return false
		}
	}
	return true
}

// joined is a request header's values as one comparable string.
func joined(h http.Header, name string) string {
	vs := h[name]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	n := 0
	for _, v := range vs {
		n += len(v) + 2
	}
	b := make([]byte, 0, n)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	return string(b)
}

// maxVariants bounds the variants kept under one key (one per value of
// the Vary headers): an attacker varying Accept-Language must not fill
// the store under one URL.
const maxVariants = 8

// Store holds entries up to a byte budget, dropping the least recently
// used first. It is safe for concurrent use and outlives config reloads.
type Store struct {
	mu      sync.Mutex
	max     int64
	used    int64
	lru     *list.List // of *slot, most recent first
	byKey   map[string]*list.Element
	flights map[string]*flight
	// shared is the level every node shares, nil when there is none;
	// stopShared ends the subscription to its purges.
	shared     Shared
	stopShared context.CancelFunc
	sharedDone chan struct{}
}

// slot is the variants stored under one key.
type slot struct {
	key      string
	variants []*Entry
	size     int64
}

// NewStore returns a store bounded to maxBytes.
func NewStore(maxBytes int64) *Store {
	return &Store{max: maxBytes, lru: list.New(), byKey: map[string]*list.Element{}, flights: map[string]*flight{}}
}

// Get returns the variant stored under key that fits the request headers
// h, or nil. Without a fresh one in memory it asks the shared level, if
// any, for a newer one (another node may have fetched it).
func (s *Store) Get(ctx context.Context, key string, h http.Header, now time.Time) *Entry {
	e := s.getLocal(key, h)
	if e != nil && e.FreshAt(now) || s.shared == nil {
		return e
	}
	return s.loadShared(ctx, key, h, e)
}

func (s *Store) getLocal(key string, h http.Header) *Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.byKey[key]
	if el == nil {
		return nil
	}
	sl := el.Value.(*slot)
	for _, e := range sl.variants {
		if e.matches(h) {
			s.lru.MoveToFront(el)
			return e
		}
	}
	return nil
}

// Put stores e under key, in place of the variant with the same Vary
// values, in memory and in the shared level; an entry larger than a
// quarter of the budget is not kept.
func (s *Store) Put(ctx context.Context, key string, e *Entry, now time.Time) bool {
	if !s.putLocal(key, e) {
		return false
	}
	if s.shared != nil {
		s.saveShared(ctx, key, now)
	}
	return true
}

func (s *Store) putLocal(key string, e *Entry) bool {
	size := e.size(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > s.max/4 {
		return false
	}
	el := s.byKey[key]
	if el == nil {
		el = s.lru.PushFront(&slot{key: key})
		s.byKey[key] = el
	} else {
		s.lru.MoveToFront(el)
	}
	sl := el.Value.(*slot)
	kept := sl.variants[:0]
	for _, old := range sl.variants {
		if sameVariant(old, e) {
			sl.size -= old.size(key)
			s.used -= old.size(key)
			continue
		}
		kept = append(kept, old)
	}
	sl.variants = kept
	if len(sl.variants) >= maxVariants {
		old := sl.variants[0]
		sl.size -= old.size(key)
		s.used -= old.size(key)
		sl.variants = sl.variants[1:]
	}
	sl.variants = append(sl.variants, e)
	sl.size += size
	s.used += size
	for s.used > s.max {
		back := s.lru.Back()
		if back == el && s.lru.Len() == 1 {
			break
		}
		s.removeElement(back)
	}
	return true
}

func sameVariant(a, b *Entry) bool {
	if len(a.Vary) != len(b.Vary) {
		return false
	}
	for i := range a.Vary {
		if a.Vary[i] != b.Vary[i] || a.VaryValues[i] != b.VaryValues[i] {
			return false
		}
	}
	return true
}

// Delete removes every variant under key, here and in the shared level.
func (s *Store) Delete(ctx context.Context, key string) {
	s.mu.Lock()
	if el := s.byKey[key]; el != nil {
		s.removeElement(el)
	}
	s.mu.Unlock()
	if s.shared != nil {
		s.shared.Drop(ctx, key)
	}
}

// Selector picks stored entries for a purge: those under keys with
// KeyPrefix, and of those the ones whose path starts with PathPrefix (or
// is it, with ExactPath) and that carry Tag (each only when set).
type Selector struct {
	KeyPrefix  string
	PathPrefix string
	// ExactPath makes PathPrefix the whole path: one URL's responses
	// (every query and variant of it).
	ExactPath bool
	Tag       string
}

func (sel Selector) picks(e *Entry) bool {
	if sel.ExactPath && e.Path != sel.PathPrefix || !strings.HasPrefix(e.Path, sel.PathPrefix) {
		return false
	}
	return sel.Tag == "" || slices.Contains(e.Tags, sel.Tag)
}

// Purge removes the entries sel picks, here, in the shared level and
// (through it) on every node, and returns how many it removed: in the
// shared level when there is one, else here.
func (s *Store) Purge(ctx context.Context, sel Selector) int {
	n := s.purgeLocal(sel)
	if s.shared != nil {
		return s.shared.Purge(ctx, sel)
	}
	return n
}

func (s *Store) purgeLocal(sel Selector) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, el := range s.byKey {
		if !strings.HasPrefix(k, sel.KeyPrefix) {
			continue
		}
		sl := el.Value.(*slot)
		kept := sl.variants[:0]
		for _, e := range sl.variants {
			if sel.picks(e) {
				size := e.size(k)
				sl.size -= size
				s.used -= size
				n++
				continue
			}
			kept = append(kept, e)
		}
		clear(sl.variants[len(kept):])
		sl.variants = kept
		if len(kept) == 0 {
			s.removeElement(el)
		}
	}
	return n
}

func (s *Store) removeElement(el *list.Element) {
	sl := el.Value.(*slot)
	s.lru.Remove(el)
	delete(s.byKey, sl.key)
	s.used -= sl.size
}

// Used is the bytes the store holds, by its count.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// flight is one upstream fetch that concurrent misses of a key wait for.
type flight struct{ done chan struct{} }

// join returns the flight for key, and whether the caller leads it (and
// must call land); a follower waits on its done channel.
func (s *Store) join(key string) (*flight, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.flights[key]; f != nil {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	s.flights[key] = f
	return f, true
}

// land ends the flight for key.
func (s *Store) land(key string, f *flight) {
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	s.mu.Unlock()
	close(f.done)
}
