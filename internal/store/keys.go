package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// API keys look like rk_<id>_<secret>: a visible prefix that says what
// the string is (secret scanners can match it), the key id that finds the
// record and shows in logs, and 256 random bits.
//
// The record holds HMAC-SHA256(hash key, secret), never the secret. A
// slow password hash (bcrypt, argon2) exists to stretch guessable
// passwords; 256 random bits cannot be guessed, so a fast keyed hash is
// as strong and costs about a microsecond per request instead of tens of
// milliseconds. The hash key (store.hash_key, a "pepper") is optional:
// with it, a copy of the database alone cannot even confirm a leaked key.
const (
	KeyPrefix = "rk_"
	idBytes   = 10 // 16 base32 characters
	secBytes  = 32 // 52 base32 characters
	idLen     = 16
	secLen    = 52
	// KeyLen is the length of a whole key.
	KeyLen = len(KeyPrefix) + idLen + 1 + secLen
)

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

// defaultHashKey separates our hashes from any other SHA-256 use when no
// hash key is configured.
const defaultHashKey = "rampart api key v1"

// ParseKey splits a presented key into id and secret. Anything not
// exactly in the format is refused before any lookup.
func ParseKey(s string) (id, secret string, ok bool) {
	if len(s) != KeyLen || !strings.HasPrefix(s, KeyPrefix) || s[len(KeyPrefix)+idLen] != '_' {
		return "", "", false
	}
	id, secret = s[len(KeyPrefix):len(KeyPrefix)+idLen], s[len(KeyPrefix)+idLen+1:]
	if !base32Lower(id) || !base32Lower(secret) {
		return "", "", false
	}
	return id, secret, true
}

func base32Lower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Hasher computes and checks key hashes.
type Hasher struct{ key []byte }

// NewHasher returns a Hasher with the configured hash key, or the
// default when it is empty.
func NewHasher(key string) Hasher {
	if key == "" {
		key = defaultHashKey
	}
	return Hasher{key: []byte(key)}
}

// Sum returns the keyed hash of a secret.
func (h Hasher) Sum(secret string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Match compares in constant time.
func (h Hasher) Match(secret string, sum []byte) bool {
	return hmac.Equal(h.Sum(secret), sum)
}

// Keys manages API keys on a driver.
type Keys struct {
	D      Driver
	Hasher Hasher
	Now    func() time.Time
}

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// CreateOptions are a new key's scopes and lifetime.
type CreateOptions struct {
	Scopes    []string
	ExpiresIn time.Duration // 0: never
}

// Create issues a key for consumer, creating the consumer record if the
// store has none. The returned plaintext is shown once and never again.
func (k *Keys) Create(ctx context.Context, consumer string, o CreateOptions) (string, Key, error) {
	if _, err := k.D.GetConsumer(ctx, consumer); errors.Is(err, ErrNotFound) {
		if err := k.D.PutConsumer(ctx, Consumer{ID: consumer, CreatedAt: k.now()}); err != nil {
			return "", Key{}, err
		}
	} else if err != nil {
		return "", Key{}, err
	}
	return k.issue(ctx, Key{Consumer: consumer, Scopes: o.Scopes}, o.ExpiresIn)
}

func (k *Keys) issue(ctx context.Context, rec Key, expiresIn time.Duration) (string, Key, error) {
	idb, secb := make([]byte, idBytes), make([]byte, secBytes)
	if _, err := rand.Read(idb); err != nil {
		return "", Key{}, err
	}
	if _, err := rand.Read(secb); err != nil {
		return "", Key{}, err
	}
	id, secret := strings.ToLower(enc.EncodeToString(idb)), strings.ToLower(enc.EncodeToString(secb))
	now := k.now()
	rec.ID, rec.Hash, rec.CreatedAt = id, k.Hasher.Sum(secret), now
	rec.Scopes = slices.Clone(rec.Scopes)
	if expiresIn > 0 {
		rec.ExpiresAt = now.Add(expiresIn)
	}
	if err := k.D.PutKey(ctx, rec); err != nil {
		return "", Key{}, err
	}
	return KeyPrefix + id + "_" + secret, rec, nil
}

// Revoke stops a key at once (within the gateways' sync interval).
func (k *Keys) Revoke(ctx context.Context, id string) (Key, error) {
	rec, err := k.D.GetKey(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if rec.RevokedAt.IsZero() {
		rec.RevokedAt = k.now()
		err = k.D.PutKey(ctx, rec)
	}
	return rec, err
}

// Rotate issues a successor with the same consumer and scopes; the old
// key keeps working for overlap, then expires.
func (k *Keys) Rotate(ctx context.Context, id string, overlap time.Duration) (string, Key, Key, error) {
	old, err := k.D.GetKey(ctx, id)
	if err != nil {
		return "", Key{}, Key{}, err
	}
	if st := old.State(k.now()); st != "active" {
		return "", Key{}, Key{}, fmt.Errorf("key %s is %s: create a new one instead", id, st)
	}
	var lifetime time.Duration
	if !old.ExpiresAt.IsZero() {
		lifetime = old.ExpiresAt.Sub(old.CreatedAt)
	}
	plain, next, err := k.issue(ctx, Key{Consumer: old.Consumer, Scopes: old.Scopes}, lifetime)
	if err != nil {
		return "", Key{}, Key{}, err
	}
	end := k.now().Add(overlap)
	if old.ExpiresAt.IsZero() || end.Before(old.ExpiresAt) {
		old.ExpiresAt = end
	}
	old.ReplacedBy = next.ID
	if err := k.D.PutKey(ctx, old); err != nil {
		return "", Key{}, Key{}, err
	}
	return plain, next, old, nil
}

// KeyInfo is what may be shown of a key: never the secret or its hash.
type KeyInfo struct {
	ID         string    `json:"id"`
	Consumer   string    `json:"consumer"`
	State      string    `json:"state"`
	Scopes     []string  `json:"scopes,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	ReplacedBy string    `json:"replaced_by,omitempty"`
}

// Info returns the showable part of k, with its state at now.
func (k Key) Info(now time.Time) KeyInfo {
	return KeyInfo{ID: k.ID, Consumer: k.Consumer, State: k.State(now), Scopes: k.Scopes, CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, ReplacedBy: k.ReplacedBy}
}
