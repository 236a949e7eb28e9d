package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	boltErrors "go.etcd.io/bbolt/errors"
)

var (
	bucketKeys      = []byte("keys")
	bucketConsumers = []byte("consumers")
	bucketMeta      = []byte("meta")
	keyVersion      = []byte("version")
	bucketBlobs     = []byte("blobs")
	bucketLeases    = []byte("leases")
	bucketGrants    = []byte("grants")
	bucketUsage     = []byte("usage")
)

// Embedded is the single-file driver (bbolt: pure Go, nothing to
// install). The file is opened per operation and closed after, so the
// gateway and `rampart keys` can share it: bbolt's file lock lets one
// writer or several readers in at a time, and a reader of the gateway
// holds it for microseconds every sync interval.
type Embedded struct {
	path string
}

// lockWait bounds how long an operation waits for the file lock.
const lockWait = 5 * time.Second

// OpenEmbedded creates the file and its buckets if needed.
func OpenEmbedded(path string) (*Embedded, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	e := &Embedded{path: path}
	err := e.update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketConsumers, bucketMeta, bucketBlobs, bucketLeases, bucketGrants, bucketUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Embedded) open(readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: lockWait, ReadOnly: readOnly})
	if errors.Is(err, boltErrors.ErrTimeout) {
		return nil, fmt.Errorf("store %s is locked by another process for more than %s", e.path, lockWait)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", e.path, err)
	}
	return db, nil
}

func (e *Embedded) update(fn func(*bolt.Tx) error) error {
	db, err := e.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(fn)
}

func (e *Embedded) view(fn func(*bolt.Tx) error) error {
	db, err := e.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(fn)
}

// put writes one record and bumps the version in the same transaction.
func (e *Embedded) put(bucket []byte, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucket).Put([]byte(id), b); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		var n uint64
		if cur := meta.Get(keyVersion); len(cur) == 8 {
			n = binary.BigEndian.Uint64(cur)
		}
		return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, n+1))
	})
}

func get[T any](e *Embedded, bucket []byte, id string) (T, error) {
	var v T
	err := e.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket).Get([]byte(id))
		if b == nil {
			return ErrNotFound
		}
		return json.Unmarshal(b, &v)
	})
	return v, err
}

func list[T any](e *Embedded, bucket []byte, keep func(*T) bool) ([]T, error) {
	var out []T
	err := e.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, b []byte) error {
			var v T
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
			if keep == nil || keep(&v) {
				out = append(out, v)
			}
			return nil
		})
	})
	return out, err
}

// PutKey implements Driver.
func (e *Embedded) PutKey(_ context.Context, k Key) error { return e.put(bucketKeys, k.ID, k) }

// GetKey implements Driver.
func (e *Embedded) GetKey(_ context.Context, id string) (Key, error) {
	return get[Key](e, bucketKeys, id)
}

// ListKeys implements Driver.
func (e *Embedded) ListKeys(_ context.Context, consumer string) ([]Key, error) {
	keys, err := list(e, bucketKeys, func(k *Key) bool { return consumer == "" || k.Consumer == consumer })
	sort.Slice(keys, func(i, j int) bool { // as PostgreSQL orders them
		return keys[i].CreatedAt.Before(keys[j].CreatedAt) || (keys[i].CreatedAt.Equal(keys[j].CreatedAt) && keys[i].ID < keys[j].ID)
	})
	return keys, err
}

// PutConsumer implements Driver.
func (e *Embedded) PutConsumer(_ context.Context, c Consumer) error {
	return e.put(bucketConsumers, c.ID, c)
}

// GetConsumer implements Driver.
func (e *Embedded) GetConsumer(_ context.Context, id string) (Consumer, error) {
	return get[Consumer](e, bucketConsumers, id)
}

// ListConsumers implements Driver.
func (e *Embedded) ListConsumers(context.Context) ([]Consumer, error) {
	return list[Consumer](e, bucketConsumers, nil)
}

// PutGrant implements Driver.
func (e *Embedded) PutGrant(_ context.Context, g Grant) error { return e.put(bucketGrants, g.ID, g) }

// GetGrant implements Driver.
func (e *Embedded) GetGrant(_ context.Context, id string) (Grant, error) {
	return get[Grant](e, bucketGrants, id)
}

// ListGrants implements Driver.
func (e *Embedded) ListGrants(_ context.Context, consumer string) ([]Grant, error) {
	grants, err := list(e, bucketGrants, func(g *Grant) bool { return consumer == "" || g.Consumer == consumer })
	sort.Slice(grants, func(i, j int) bool {
		return grants[i].CreatedAt.Before(grants[j].CreatedAt) || (grants[i].CreatedAt.Equal(grants[j].CreatedAt) && grants[i].ID < grants[j].ID)
	})
	return grants, err
}

// RecordUsage implements Driver: kind NUL subject -> unix seconds, in
// one transaction, outside the version.
func (e *Embedded) RecordUsage(_ context.Context, batch []Usage) error {
	return e.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		for _, u := range batch {
			k := []byte(u.Kind + "\x00" + u.Subject)
			if cur := b.Get(k); len(cur) == 8 && int64(binary.BigEndian.Uint64(cur)) >= u.At.Unix() {
				continue
			}
			if err := b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(u.At.Unix()))); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListUsage implements Driver.
func (e *Embedded) ListUsage(context.Context) ([]Usage, error) {
	var out []Usage
	err := e.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsage).ForEach(func(k, v []byte) error {
			kind, subject, ok := bytes.Cut(k, []byte{0})
			if ok && len(v) == 8 {
				out = append(out, Usage{Kind: string(kind), Subject: string(subject), At: time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC()})
			}
			return nil
		})
	})
	return out, err
}

// Version implements Driver.
func (e *Embedded) Version(context.Context) (uint64, error) {
	var n uint64
	err := e.view(func(tx *bolt.Tx) error {
		if cur := tx.Bucket(bucketMeta).Get(keyVersion); len(cur) == 8 {
			n = binary.BigEndian.Uint64(cur)
		}
		return nil
	})
	return n, err
}

// Close implements Driver; the file is not held open between operations.
func (e *Embedded) Close() error { return nil }

// PutBlob implements Blobs: the value after the time it was written
// (unix nanoseconds, 8 bytes).
func (e *Embedded) PutBlob(_ context.Context, name string, value []byte) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(time.Now().UnixNano()))
	v = append(v, value...)
	return e.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketBlobs).Put([]byte(name), v) })
}

// GetBlob implements Blobs.
func (e *Embedded) GetBlob(_ context.Context, name string) (Blob, error) {
	var b Blob
	err := e.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlobs).Get([]byte(name))
		if len(v) < 8 {
			return ErrNotFound
		}
		b.Modified = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
		b.Value = append([]byte(nil), v[8:]...) // bbolt's bytes live only as long as the transaction
		return nil
	})
	return b, err
}

// DeleteBlobs implements Blobs.
func (e *Embedded) DeleteBlobs(_ context.Context, name string) error {
	return e.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		if err := b.Delete([]byte(name)); err != nil {
			return err
		}
		dir := []byte(name + "/")
		c := b.Cursor()
		for k, _ := c.Seek(dir); k != nil && bytes.HasPrefix(k, dir); k, _ = c.Seek(dir) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListBlobs implements Blobs.
func (e *Embedded) ListBlobs(_ context.Context, prefix string) ([]string, error) {
	var names []string
	err := e.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBlobs).Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			names = append(names, string(k))
		}
		return nil
	})
	return names, err
}

// TryLease implements Blobs: the owner and the expiry (unix
// nanoseconds) under the name, read and written in one transaction,
// which bbolt's file lock makes exclusive between processes.
func (e *Embedded) TryLease(_ context.Context, name, owner string, ttl time.Duration) (bool, error) {
	won := false
	err := e.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		now := time.Now()
		if v := b.Get([]byte(name)); len(v) >= 8 {
			expires := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if string(v[8:]) != owner && now.Before(expires) {
				return nil
			}
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(now.Add(ttl).UnixNano()))
		won = true
		return b.Put([]byte(name), append(v, owner...))
	})
	return won, err
}

// DropLease implements Blobs.
func (e *Embedded) DropLease(_ context.Context, name, owner string) error {
	return e.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		if v := b.Get([]byte(name)); len(v) >= 8 && string(v[8:]) == owner {
			return b.Delete([]byte(name))
		}
		return nil
	})
}
