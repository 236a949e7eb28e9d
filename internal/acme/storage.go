package acme

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/rampart-gw/rampart/internal/store"
)

// storage is certmagic's Storage over the store's blobs: every name
// under "acme/", locks as leases.
type storage struct {
	b     store.Blobs
	node  string // this process, in lease owners
	mu    sync.Mutex
	held  map[string]string // lock name -> the owner that holds it here
	count uint64
}

// leaseTTL bounds a lock whose holder died: obtaining a certificate takes
// seconds to a minute.
const leaseTTL = 10 * time.Minute

// leasePoll is how often a waiting Lock asks again.
const leasePoll = time.Second

func newStorage(b store.Blobs) *storage {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return &storage{b: b, node: host + "/" + hex.EncodeToString(r[:]), held: map[string]string{}}
}

const prefix = "acme/"

// Lock implements certmagic.Locker: each call is its own owner, so two
// goroutines of one process exclude each other as two nodes do.
func (s *storage) Lock(ctx context.Context, name string) error {
	s.mu.Lock()
	s.count++
	owner := s.node + "/" + strconv.FormatUint(s.count, 10)
	s.mu.Unlock()
	for {
		ok, err := s.b.TryLease(ctx, prefix+"lock/"+name, owner, leaseTTL)
		if err != nil {
			return err
		}
		if ok {
			s.mu.Lock()
			s.held[name] = owner
			s.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leasePoll):
		}
	}
}

// Unlock implements certmagic.Locker.
func (s *storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	owner, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return s.b.DropLease(ctx, prefix+"lock/"+name, owner)
}

// Store implements certmagic.Storage.
func (s *storage) Store(ctx context.Context, key string, value []byte) error {
	return s.b.PutBlob(ctx, prefix+key, value)
}

// Load implements certmagic.Storage: fs.ErrNotExist for a missing key,
// as certmagic expects.
func (s *storage) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := s.b.GetBlob(ctx, prefix+key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fs.ErrNotExist
	}
	return b.Value, err
}

// Delete implements certmagic.Storage.
func (s *storage) Delete(ctx context.Context, key string) error {
	return s.b.DeleteBlobs(ctx, prefix+key)
}

// Exists implements certmagic.Storage: a key, or a "directory" of keys.
func (s *storage) Exists(ctx context.Context, key string) bool {
	if _, err := s.b.GetBlob(ctx, prefix+key); err == nil {
		return true
	}
	names, err := s.b.ListBlobs(ctx, prefix+key+"/")
	return err == nil && len(names) > 0
}

// List implements certmagic.Storage.
func (s *storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	dir := strings.TrimSuffix(path, "/") + "/"
	names, err := s.b.ListBlobs(ctx, prefix+dir)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimPrefix(n, prefix)
		if !recursive {
			rest := strings.TrimPrefix(n, dir)
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				n = dir + rest[:i]
			}
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	b, err := s.b.GetBlob(ctx, prefix+key)
	switch {
	case err == nil:
		return certmagic.KeyInfo{Key: key, Modified: b.Modified, Size: int64(len(b.Value)), IsTerminal: true}, nil
	case !errors.Is(err, store.ErrNotFound):
		return certmagic.KeyInfo{}, err
	}
	if s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fs.ErrNotExist
}
