// Package tokencache remembers what was learnt about a token (verified
// claims, an introspection result, a refusal) by the SHA-256 of the
// whole token, never the token itself, until a deadline the caller
// sets: the earlier of the token's exp and a configured TTL. A token seen
// again costs a hash and a map read instead of a signature check or a
// call to the IdP.
//
// The size is bounded. When full, expired entries go first, then
// arbitrary ones: an attacker who fills the cache with tokens costs
// verifications, never correctness.
package tokencache

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"
)

// Cache maps token hashes to values of type V.
type Cache[V any] struct {
	mu      sync.RWMutex
	entries map[[32]byte]entry[V]
	size    int
}

type entry[V any] struct {
	v     V
	until time.Time
}

// New returns a cache holding at most size entries.
func New[V any](size int) *Cache[V] {
	return &Cache[V]{entries: make(map[[32]byte]entry[V], min(size, 1024)), size: size}
}

// Sum is the cache key of a token. The hash reads the string's bytes in
// place: a conversion to []byte would allocate on every request, and a
// stack copy costs a copy and the zeroing of the buffer. Sum256 only
// reads its argument, which is what makes the shared view safe.
func Sum(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// Get returns the value stored for sum if its deadline is after now.
func (c *Cache[V]) Get(sum [32]byte, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.entries[sum]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v for sum until the deadline.
func (c *Cache[V]) Put(sum [32]byte, v V, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[sum]; !ok && len(c.entries) >= c.size {
		now := time.Now()
		evicted := 0
		for k, e := range c.entries {
			if now.After(e.until) || evicted < c.size/16+1 {
				delete(c.entries, k)
				evicted++
			}
		}
	}
	c.entries[sum] = entry[V]{v: v, until: until}
}

// Len is the number of entries, expired ones included.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
