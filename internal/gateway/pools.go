package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
)

// resKey names a long-lived resource (an upstream pool, an IdP key set,
// the store directory) by its config name and a hash of its definition,
// so a changed definition starts fresh and an unchanged one keeps its
// state (health, breakers, fetched keys) across reloads.
type resKey struct{ Name, Hash string }

func keyOf(name string, def any, baseDir string) resKey {
	b, _ := json.Marshal(struct {
		D    any
		Base string
	}{def, baseDir})
	sum := sha256.Sum256(b)
	return resKey{Name: name, Hash: hex.EncodeToString(sum[:8])}
}

// refSet is a refcounted set of resources owned by the Gateway. A
// snapshot acquires what it uses; the last release closes it.
type refSet[V any] struct {
	mu    sync.Mutex
	items map[resKey]*ref[V]
	close func(V)
}

type ref[V any] struct {
	v    V
	refs int
}

func newRefSet[V any](closeFn func(V)) *refSet[V] {
	return &refSet[V]{items: map[resKey]*ref[V]{}, close: closeFn}
}

func (s *refSet[V]) acquire(k resKey, create func() (V, error)) (V, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.items[k]; ok {
		r.refs++
		return r.v, nil
	}
	v, err := create()
	if err != nil {
		return v, err
	}
	s.items[k] = &ref[V]{v: v, refs: 1}
	return v, nil
}

func (s *refSet[V]) release(k resKey) {
	s.mu.Lock()
	r, ok := s.items[k]
	last := ok && r.refs == 1
	if ok {
		r.refs--
		if last {
			delete(s.items, k)
		}
	}
	s.mu.Unlock()
	if last {
		s.close(r.v)
	}
}

func (s *refSet[V]) all() []V {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]V, 0, len(s.items))
	for _, r := range s.items {
		out = append(out, r.v)
	}
	return out
}
