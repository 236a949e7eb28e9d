package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/proxy"
)

// poolKey names a pool by its upstream name and a hash of its definition,
// so a changed upstream starts fresh and an unchanged one keeps its health
// and breaker state across reloads.
type poolKey struct{ Name, Hash string }

func keyOf(name string, u *config.Upstream, baseDir string) poolKey {
	b, _ := json.Marshal(struct {
		U    *config.Upstream
		Base string
	}{u, baseDir})
	sum := sha256.Sum256(b)
	return poolKey{Name: name, Hash: hex.EncodeToString(sum[:8])}
}

// poolSet is a refcounted set of pools owned by the Gateway. A snapshot
// acquires the pools it uses; the last release closes a pool.
type poolSet struct {
	mu    sync.Mutex
	pools map[poolKey]*pooled
}

type pooled struct {
	pool *proxy.Pool
	refs int
}

func newPoolSet() *poolSet { return &poolSet{pools: map[poolKey]*pooled{}} }

func (s *poolSet) acquire(k poolKey, create func() (*proxy.Pool, error)) (*proxy.Pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[k]; ok {
		p.refs++
		return p.pool, nil
	}
	p, err := create()
	if err != nil {
		return nil, err
	}
	s.pools[k] = &pooled{pool: p, refs: 1}
	return p, nil
}

func (s *poolSet) release(k poolKey) {
	s.mu.Lock()
	p, ok := s.pools[k]
	if ok {
		p.refs--
		if p.refs == 0 {
			delete(s.pools, k)
		}
	}
	s.mu.Unlock()
	if ok && p.refs == 0 {
		p.pool.Close()
	}
}

func (s *poolSet) all() []*proxy.Pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*proxy.Pool, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p.pool)
	}
	return out
}
