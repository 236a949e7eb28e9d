package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared is a second level of the store that every gateway node reads
// and writes (the Redis state driver's): a node's miss in memory is
// looked up there before the upstream is asked, what a node stores is
// stored there too, and a purge on one node purges every node.
type Shared interface {
	// Load returns the variants stored under key, or none.
	Load(ctx context.Context, key string) []*Entry
	// Save stores the variants under key, kept for ttl.
	Save(ctx context.Context, key string, variants []*Entry, ttl time.Duration)
	// Drop removes what is stored under key.
	Drop(ctx context.Context, key string)
	// Purge removes what sel picks and tells every node, whose
	// subscription (Subscribe) purges its memory. It returns how many
	// entries it removed from the shared level.
	Purge(ctx context.Context, sel Selector) int
	// Subscribe calls purge for every purge any node makes, until ctx
	// ends.
	Subscribe(ctx context.Context, purge func(Selector))
}

// Redis is the shared level in Redis. Each key's variants are one value
// under a hash of the key; each route's keys are a set, which purges
// walk. Redis being unreachable is a miss, never an error: after a
// failure it is left alone for a second.
type Redis struct {
	c         redis.UniversalClient
	log       *slog.Logger
	downUntil atomic.Int64
	failures  func()
}

const (
	redisPrefix  = "rampart:cache:"
	redisRoutes  = redisPrefix + "routes"
	redisChannel = redisPrefix + "purge"
)

// NewRedis returns the shared level over c, which its owner closes.
// failures counts a failed call (may be nil).
func NewRedis(c redis.UniversalClient, log *slog.Logger, failures func()) *Redis {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{c: c, log: log, failures: failures}
}

// hashed is the Redis key of a cache key: fixed length, and no consumer
// id or path in Redis's key space.
func hashed(key string) string {
	sum := sha256.Sum256([]byte(key))
	return redisPrefix + "e:" + hex.EncodeToString(sum[:16])
}

// routeOf is the route a cache key belongs to.
func routeOf(key string) string {
	route, _, _ := strings.Cut(key, "\x00")
	return route
}

// stored is one key's value in Redis.
type stored struct {
	Key      string
	Variants []*Entry
}

func (r *Redis) up() bool { return time.Now().UnixNano() >= r.downUntil.Load() }

func (r *Redis) failed(ctx context.Context, what string, err error) {
	if ctx.Err() != nil || errors.Is(err, redis.Nil) {
		return
	}
	r.downUntil.Store(time.Now().Add(time.Second).UnixNano())
	r.log.Warn("shared response cache unavailable", "call", what, "error", err)
	if r.failures != nil {
		r.failures()
	}
}

// Load implements Shared.
func (r *Redis) Load(ctx context.Context, key string) []*Entry {
	if !r.up() {
		return nil
	}
	b, err := r.c.Get(ctx, hashed(key)).Bytes()
	if err != nil {
		r.failed(ctx, "get", err)
		return nil
	}
	var s stored
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil || s.Key != key {
		return nil // another build's encoding, or a hash collision: a miss
	}
	return s.Variants
}

// Save implements Shared.
func (r *Redis) Save(ctx context.Context, key string, variants []*Entry, ttl time.Duration) {
	if !r.up() || ttl <= 0 {
		return
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(stored{Key: key, Variants: variants}); err != nil {
		return
	}
	h, route := hashed(key), routeOf(key)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, h, b.Bytes(), ttl)
		p.SAdd(ctx, redisPrefix+"r:"+route, h)
		p.SAdd(ctx, redisRoutes, route)
		return nil
	})
	if err != nil {
		r.failed(ctx, "set", err)
	}
}

// Drop implements Shared.
func (r *Redis) Drop(ctx context.Context, key string) {
	if !r.up() {
		return
	}
	if err := r.c.Del(ctx, hashed(key)).Err(); err != nil {
		r.failed(ctx, "del", err)
	}
}

// Purge implements Shared.
func (r *Redis) Purge(ctx context.Context, sel Selector) int {
	defer func() {
		msg, _ := json.Marshal(sel)
		if err := r.c.Publish(ctx, redisChannel, msg).Err(); err != nil {
			r.failed(ctx, "publish", err)
		}
	}()
	routes, err := r.c.SMembers(ctx, redisRoutes).Result()
	if err != nil {
		r.failed(ctx, "smembers", err)
		return 0
	}
	n := 0
	for _, route := range routes {
		if !strings.HasPrefix(route+"\x00", sel.KeyPrefix) && !strings.HasPrefix(sel.KeyPrefix, route+"\x00") {
			continue
		}
		set := redisPrefix + "r:" + route
		keys, err := r.c.SMembers(ctx, set).Result()
		if err != nil {
			r.failed(ctx, "smembers", err)
			return n
		}
		for _, h := range keys {
			n += r.purgeKey(ctx, set, h, sel)
		}
	}
	return n
}

// purgeKey removes the variants sel picks from one stored key.
func (r *Redis) purgeKey(ctx context.Context, set, h string, sel Selector) int {
	b, err := r.c.Get(ctx, h).Bytes()
	var s stored
	if err != nil || gob.NewDecoder(bytes.NewReader(b)).Decode(&s) != nil {
		r.c.SRem(ctx, set, h) // expired or unreadable: only the index is left
		return 0
	}
	if !strings.HasPrefix(s.Key, sel.KeyPrefix) {
		return 0
	}
	kept := s.Variants[:0]
	for _, e := range s.Variants {
		if !sel.picks(e) {
			kept = append(kept, e)
		}
	}
	n := len(s.Variants) - len(kept)
	switch {
	case n == 0:
	case len(kept) == 0:
		r.c.Del(ctx, h)
		r.c.SRem(ctx, set, h)
	default:
		ttl, err := r.c.PTTL(ctx, h).Result()
		if err == nil && ttl > 0 {
			var out bytes.Buffer
			if gob.NewEncoder(&out).Encode(stored{Key: s.Key, Variants: kept}) == nil {
				r.c.Set(ctx, h, out.Bytes(), ttl)
			}
		}
	}
	return n
}

// Subscribe implements Shared.
func (r *Redis) Subscribe(ctx context.Context, purge func(Selector)) {
	sub := r.c.Subscribe(ctx, redisChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var sel Selector
			if json.Unmarshal([]byte(m.Payload), &sel) == nil {
				purge(sel)
			}
		}
	}
}

// sharedTTL is how long Redis keeps a key's variants: until the last of
// them is past every use (fresh, then stale within its windows), and a
// while longer for one the upstream can revalidate.
func sharedTTL(variants []*Entry, now time.Time) time.Duration {
	var ttl time.Duration
	for _, e := range variants {
		keep := e.Fresh + max(e.StaleWhileRevalidate, e.StaleIfError)
		if etag, lm := e.validators(); etag != "" || lm != "" {
			keep = max(keep, e.Fresh+revalidationGrace)
		}
		ttl = max(ttl, keep-e.Age(now))
	}
	return min(ttl, 24*time.Hour)
}

// revalidationGrace is how long past its freshness a shared entry with
// validators is kept for the upstream to confirm with a 304.
const revalidationGrace = 10 * time.Minute

// sharedTimeout bounds the wait for the shared level on the request path.
const sharedTimeout = 200 * time.Millisecond

// Share makes sh the store's second level and follows the purges every
// node makes; Close stops following.
func (s *Store) Share(sh Shared) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.mu.Lock()
	s.shared, s.stopShared, s.sharedDone = sh, cancel, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			sh.Subscribe(ctx, func(sel Selector) { s.purgeLocal(sel) })
			select { // the subscription broke (Redis restarted): again, after a pause
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

// Close stops following the shared level's purges.
func (s *Store) Close() {
	s.mu.Lock()
	stop, done := s.stopShared, s.sharedDone
	s.stopShared = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// loadShared looks key up in the shared level: the variant that fits h,
// when it is newer than have, is kept in memory and returned.
func (s *Store) loadShared(ctx context.Context, key string, h http.Header, have *Entry) *Entry {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	for _, v := range s.shared.Load(ctx, key) {
		if v.matches(h) && (have == nil || v.Stored.After(have.Stored)) {
			s.putLocal(key, v)
			return v
		}
	}
	return have
}

// saveShared stores key's variants as memory holds them in the shared
// level.
func (s *Store) saveShared(ctx context.Context, key string, now time.Time) {
	s.mu.Lock()
	var variants []*Entry
	if el := s.byKey[key]; el != nil {
		variants = slices.Clone(el.Value.(*slot).variants)
	}
	s.mu.Unlock()
	if len(variants) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	s.shared.Save(ctx, key, variants, sharedTTL(variants, now))
}
