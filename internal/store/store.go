// Package store keeps consumers and API keys. A Driver persists records
// (embedded: one bbolt file; postgres: shared by several gateways); Keys
// creates, rotates and revokes keys on top of any driver; Directory is the
// gateway's in-memory copy, resynced on an interval, that requests read.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for a missing key or consumer.
var ErrNotFound = errors.New("not found")

// Key is an API key's record. The secret itself is never stored: only
// its keyed hash.
type Key struct {
	ID         string    `json:"id"`
	Consumer   string    `json:"consumer"`
	Hash       []byte    `json:"hash,omitempty"`
	Scopes     []string  `json:"scopes,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	ReplacedBy string    `json:"replaced_by,omitempty"`
}

// State says whether a key works at t, and if not, why.
func (k *Key) State(t time.Time) string {
	switch {
	case !k.RevokedAt.IsZero() && !t.Before(k.RevokedAt):
		return "revoked"
	case !k.ExpiresAt.IsZero() && !t.Before(k.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Consumer is a consumer's record in the store.
type Consumer struct {
	ID         string            `json:"id"`
	Roles      []string          `json:"roles,omitempty"`
	Scopes     []string          `json:"scopes,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Disabled   bool              `json:"disabled,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

// Driver persists records. Every driver passes the same contract tests.
type Driver interface {
	PutKey(ctx context.Context, k Key) error
	GetKey(ctx context.Context, id string) (Key, error)
	// ListKeys lists the keys of one consumer, or all with consumer "".
	ListKeys(ctx context.Context, consumer string) ([]Key, error)
	PutConsumer(ctx context.Context, c Consumer) error
	GetConsumer(ctx context.Context, id string) (Consumer, error)
	ListConsumers(ctx context.Context) ([]Consumer, error)
	// PutGrant writes a just-in-time grant; GetGrant reads one;
	// ListGrants lists a consumer's (or with "" every) grant, oldest first.
	PutGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, id string) (Grant, error)
	ListGrants(ctx context.Context, consumer string) ([]Grant, error)
	// RecordUsage raises the last-use times of keys and roles (never
	// lowers one); it does not move Version. ListUsage lists them all.
	RecordUsage(ctx context.Context, u []Usage) error
	ListUsage(ctx context.Context) ([]Usage, error)
	// Version changes whenever a record does, so a reader can tell
	// cheaply whether to reload.
	Version(ctx context.Context) (uint64, error)
	// AppendTrail appends audit-trail records built from the last one,
	// in one transaction; ListTrail lists up to limit records after seq.
	AppendTrail(ctx context.Context, build TrailBuild) error
	ListTrail(ctx context.Context, after uint64, limit int) ([]TrailRecord, error)
	Blobs
	Close() error
}
