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
	// keysUsed holds, by key id, when this node last accepted the key
	// (unix seconds): what self-service shows as "last used", and what
	// is written to the store's usage for access reviews.
	keysUsed usageMap
	// roles is when each consumer last exercised each role.
	roles usageMap
}

// usageMap is when each subject was last used (unix seconds), and what
// of it has been written to the store.
type usageMap struct {
	m       sync.Map // subject -> *usage
	flushed sync.Map // subject -> int64, the last time written
}

type usage struct{ sec atomic.Int64 }

// mark records a use at t; at most one store per second and subject, so
// a busy key costs a load, not a contended write.
func mark(u *usageMap, subject string, t time.Time) {
	sec := t.Unix()
	v, ok := u.m.Load(subject)
	if !ok {
		v, _ = u.m.LoadOrStore(subject, new(usage))
	}
	if last := &v.(*usage).sec; last.Load() < sec {
		last.Store(sec)
	}
}

func (u *usageMap) last(subject string) time.Time {
	if v, ok := u.m.Load(subject); ok {
		return time.Unix(v.(*usage).sec.Load(), 0)
	}
	return time.Time{}
}

// changed returns the uses not written yet at minute precision, and
// marks them written.
func (u *usageMap) changed() map[string]int64 {
	out := map[string]int64{}
	u.m.Range(func(k, v any) bool {
		sec := v.(*usage).sec.Load()
		if f, ok := u.flushed.Load(k); !ok || sec/60 > f.(int64)/60 {
			out[k.(string)] = sec
			u.flushed.Store(k, sec)
		}
		return true
	})
	return out
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
	flush := time.NewTicker(usageFlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-dir.stop:
			dir.flush()
			return
		case <-flush.C:
			dir.flush()
			continue
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

// flush writes the usage seen since the last flush; a failure is logged
// and those uses are lost (the next ones are written).
func (dir *Directory) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dir.flushUsage(ctx); err != nil {
		dir.log.Warn("store: key and role usage could not be written; access reviews will miss it", "error", err)
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

// MarkUsed records that key id was accepted at t.
func (dir *Directory) MarkUsed(id string, t time.Time) { mark(&dir.keysUsed, id, t) }

// LastUsed is when this node last accepted key id since it started; zero
// when it has not.
func (dir *Directory) LastUsed(id string) time.Time { return dir.keysUsed.last(id) }

// Close stops the sync loop and closes the driver.
func (dir *Directory) Close() error {
	close(dir.stop)
	dir.wg.Wait()
	return dir.d.Close()
}
