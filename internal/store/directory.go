package store

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Directory is a gateway's in-memory copy of the store: requests read it
// without touching the driver, and a background loop reloads it when the
// store's version changes. The sync interval therefore bounds how long a
// revoked key keeps working; while the store cannot be read, the last
// copy stays in force (and a warning is logged every interval).
type Directory struct {
	d        Driver
	interval time.Duration
	log      *slog.Logger
	snap     atomic.Pointer[dirSnapshot]
	stop     chan struct{}
	wg       sync.WaitGroup
	// used holds, by key id, when this node last accepted the key (unix
	// seconds, *atomic.Int64): what self-service shows as "last used".
	used sync.Map
}

type dirSnapshot struct {
	version   uint64
	keys      map[string]Key
	consumers map[string]Consumer
	grants    map[string][]Grant // by consumer: those not revoked nor expired when loaded
}

// OpenDirectory loads the store once, then keeps the copy current.
func OpenDirectory(ctx context.Context, d Driver, interval time.Duration, log *slog.Logger) (*Directory, error) {
	dir := &Directory{d: d, interval: interval, log: log, stop: make(chan struct{})}
	if err := dir.reload(ctx); err != nil {
		return nil, err
	}
	dir.wg.Add(1)
	go dir.loop()
	return dir, nil
}

func (dir *Directory) loop() {
	defer dir.wg.Done()
	t := time.NewTicker(dir.interval)
	defer t.Stop()
	for {
		select {
		case <-dir.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(dir.interval, 5*time.Second))
		v, err := dir.d.Version(ctx)
		if err == nil && v != dir.snap.Load().version {
			err = dir.reload(ctx)
		}
		cancel()
		if err != nil {
			dir.log.Warn("store unreadable; serving the last copy of keys and consumers", "error", err)
		}
	}
}

func (dir *Directory) reload(ctx context.Context) error {
	v, err := dir.d.Version(ctx)
	if err != nil {
		return err
	}
	keys, err := dir.d.ListKeys(ctx, "")
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	consumers, err := dir.d.ListConsumers(ctx)
	if err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	grants, err := dir.d.ListGrants(ctx, "")
	if err != nil {
		return fmt.Errorf("list grants: %w", err)
	}
	s := &dirSnapshot{version: v, keys: make(map[string]Key, len(keys)), consumers: make(map[string]Consumer, len(consumers)), grants: map[string][]Grant{}}
	now := time.Now()
	for _, g := range grants {
		if g.State(now) == "active" {
			s.grants[g.Consumer] = append(s.grants[g.Consumer], g)
		}
	}
	for _, k := range keys {
		s.keys[k.ID] = k
	}
	for _, c := range consumers {
		s.consumers[c.ID] = c
	}
	dir.snap.Store(s)
	return nil
}

// Key returns a key record by id.
func (dir *Directory) Key(id string) (Key, bool) {
	k, ok := dir.snap.Load().keys[id]
	return k, ok
}

// Consumer returns a consumer record by id.
func (dir *Directory) Consumer(id string) (Consumer, bool) {
	c, ok := dir.snap.Load().consumers[id]
	return c, ok
}

// GrantedRoles returns the roles the consumer's grants give at now; nil
// when none is in force. A grant stops at its expiry on the dot, sync or
// no sync; a revocation takes effect at the next sync.
func (dir *Directory) GrantedRoles(consumer string, now time.Time) []string {
	list := dir.snap.Load().grants[consumer]
	if len(list) == 0 {
		return nil
	}
	var roles []string
	for i := range list {
		if g := &list[i]; g.State(now) == "active" && !slices.Contains(roles, g.Role) {
			roles = append(roles, g.Role)
		}
	}
	return roles
}

// Grants returns the grants in force when the directory last loaded.
func (dir *Directory) Grants() []Grant {
	var out []Grant
	for _, list := range dir.snap.Load().grants {
		out = append(out, list...)
	}
	return out
}

// Driver is the store the directory reads.
func (dir *Directory) Driver() Driver { return dir.d }

// MarkUsed records that key id was accepted at t. It writes at most once
// a second per key, so busy keys cost a load, not a contended store.
func (dir *Directory) MarkUsed(id string, t time.Time) {
	sec := t.Unix()
	v, ok := dir.used.Load(id)
	if !ok {
		v, _ = dir.used.LoadOrStore(id, new(atomic.Int64))
	}
	if last := v.(*atomic.Int64); last.Load() != sec {
		last.Store(sec)
	}
}

// LastUsed is when this node last accepted key id since it started; zero
// when it has not.
func (dir *Directory) LastUsed(id string) time.Time {
	if v, ok := dir.used.Load(id); ok {
		return time.Unix(v.(*atomic.Int64).Load(), 0)
	}
	return time.Time{}
}

// Close stops the sync loop and closes the driver.
func (dir *Directory) Close() error {
	close(dir.stop)
	dir.wg.Wait()
	return dir.d.Close()
}
