package jwt

import (
	"sync"
	"time"
)

// cache holds verified tokens by the SHA-256 of the whole token, until
// the earlier of their exp and the configured TTL. A token seen again
// costs a hash and a map read instead of a signature check. When full,
// expired entries go first, then arbitrary ones: an attacker who fills it
// with valid tokens (which only the IdP can mint) costs verifications,
// never correctness.
type cache struct {
	mu      sync.RWMutex
	entries map[[32]byte]cached
	size    int
}

type cached struct {
	v     *verified
	until time.Time
}

func newCache(size int) *cache {
	return &cache{entries: make(map[[32]byte]cached, size), size: size}
}

func (c *cache) get(sum [32]byte, now time.Time) (*verified, bool) {
	c.mu.RLock()
	e, ok := c.entries[sum]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.v, true
}

func (c *cache) put(sum [32]byte, v *verified, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		now := time.Now()
		evicted := 0
		for k, e := range c.entries {
			if now.After(e.until) || evicted < c.size/16+1 {
				delete(c.entries, k)
				evicted++
			}
		}
	}
	c.entries[sum] = cached{v: v, until: until}
}
