package store

import (
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
		for _, b := range [][]byte{bucketKeys, bucketConsumers, bucketMeta} {
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
	sort.Slice(keys, func(i, j int) bool { return keys[i].CreatedAt.Before(keys[j].CreatedAt) })
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
