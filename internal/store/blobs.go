package store

import (
	"context"
	"time"
)

// Blob is a named value other packages keep in the store (the managed
// certificates, their keys and the ACME account), with when it last
// changed.
type Blob struct {
	Value    []byte
	Modified time.Time
}

// Blobs keep named values and hand out leases, so that nodes sharing a
// store share the values and serialise the work on them: one node
// obtains a certificate, the others find it stored.
type Blobs interface {
	PutBlob(ctx context.Context, name string, value []byte) error
	// GetBlob returns ErrNotFound for a name with no value.
	GetBlob(ctx context.Context, name string) (Blob, error)
	// DeleteBlobs removes name and every name under name + "/".
	DeleteBlobs(ctx context.Context, name string) error
	// ListBlobs returns the names that start with prefix, sorted.
	ListBlobs(ctx context.Context, prefix string) ([]string, error)
	// TryLease takes the lease called name for owner until ttl passes or
	// owner drops it, and reports whether it did: false while another
	// owner holds it. An owner taking its own lease again extends it.
	TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// DropLease gives up owner's lease; another owner's stays.
	DropLease(ctx context.Context, name, owner string) error
}
