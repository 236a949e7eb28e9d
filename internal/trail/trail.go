// Package trail is the tamper-evident audit trail: admin actions (config
// applied or refused, keys created, rotated or revoked, bans lifted,
// failed admin logins) and security events above a severity, appended to
// the store as a hash chain. Each entry carries the SHA-256 of the one
// before it, so an edit, a deletion or a reordering breaks the chain at
// that place; every N entries or T seconds a checkpoint entry signs the
// chain's head (Ed25519, or ECDSA P-256 with a key in an HSM), so
// rewriting the chain from some point on also needs the signing key. Each checkpoint is also published as a
// trail.checkpoint security event: kept by a SIEM, it is the anchor that
// shows a truncated trail.
package trail

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/store"
)

// Entry kinds.
const (
	KindAction     = "action"     // an admin action
	KindEvent      = "event"      // a security event
	KindCheckpoint = "checkpoint" // a signature over the chain so far
)

// Entry is one record of the trail.
type Entry struct {
	Seq        uint64         `json:"seq"`
	Time       time.Time      `json:"time"`
	Kind       string         `json:"kind"`
	Action     string         `json:"action"`            // key.created, config.reloaded, or the event's type
	Actor      string         `json:"actor,omitempty"`   // admin-api, dashboard, portal, cli, gateway
	Subject    string         `json:"subject,omitempty"` // the key, consumer or ban concerned
	Detail     string         `json:"detail,omitempty"`
	Event      *observe.Event `json:"event,omitempty"`
	Checkpoint *Checkpoint    `json:"checkpoint,omitempty"`
	Prev       string         `json:"prev"` // hex SHA-256 of the entry before; "" for the first
}

// Checkpoint signs the chain up to and including entry Covers, whose hash
// is the checkpoint entry's Prev.
type Checkpoint struct {
	KeyID  string `json:"key_id"`
	Covers uint64 `json:"covers"`
	// Signature is base64: Ed25519 over signedMessage, or ECDSA P-256
	// (ASN.1) over its SHA-256.
	Signature string `json:"signature"`
}

func signedMessage(covers uint64, hash string) []byte {
	return []byte("rampart-trail-checkpoint/v1\n" + strconv.FormatUint(covers, 10) + "\n" + hash)
}

// KeyID names a public key: the first 8 bytes of the SHA-256 of an
// Ed25519 key, or of an ECDSA key's PKIX encoding, in hex.
func KeyID(pub crypto.PublicKey) string {
	var h [32]byte
	switch k := pub.(type) {
	case ed25519.PublicKey:
		h = sha256.Sum256(k)
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "invalid"
		}
		h = sha256.Sum256(der)
	}
	return hex.EncodeToString(h[:8])
}

// checkKey accepts the keys checkpoints are signed with: Ed25519, and
// ECDSA P-256 (what HSMs offer where they have no EdDSA).
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
	}
	return fmt.Errorf("a trail key is Ed25519 or ECDSA P-256, not %T", pub)
}

// sign signs a checkpoint's message.
func sign(k crypto.Signer, msg []byte) ([]byte, error) {
	if _, ok := k.Public().(ed25519.PublicKey); ok {
		return k.Sign(nil, msg, crypto.Hash(0))
	}
	h := sha256.Sum256(msg)
	return k.Sign(rand.Reader, h[:], crypto.SHA256)
}

// verify checks a checkpoint's signature.
func verify(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, h[:], sig)
	}
	return false
}

// ParsePrivateKey reads a signing key: a PEM PKCS #8 Ed25519 private key
// (openssl genpkey -algorithm ed25519), or a 32-byte seed in base64.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trail signing key: %v", err)
		}
		ed, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("trail signing key: not an Ed25519 key")
		}
		return ed, nil
	}
	seed, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("trail signing key: give a PEM Ed25519 private key (openssl genpkey -algorithm ed25519) or 32 random bytes in base64")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey reads a PEM PKIX public key: Ed25519, or ECDSA P-256
// (a key in an HSM).
func ParsePublicKey(s string) (crypto.PublicKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	if err := checkKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ErrUnsigned is returned by Append and Checkpoint when the entries
// were appended but the checkpoint due could not be signed (a token out
// of reach): they are chained, and the next append signs them.
var ErrUnsigned = errors.New("the checkpoint could not be signed")

// Options configure a Writer.
type Options struct {
	Key                crypto.Signer // Ed25519, or ECDSA P-256
	Actor              string        // written on entries that name none
	CheckpointEvery    int           // entries; default 100
	CheckpointInterval time.Duration // default 1m
	// Checkpointed is told of each checkpoint written (the gateway
	// publishes it as a trail.checkpoint event); may be nil.
	Checkpointed func(seq uint64, hash string)
	Now          func() time.Time
}

// Writer appends entries to the trail.
type Writer struct {
	d     store.Driver
	o     Options
	keyID string
	mu    sync.Mutex // guards since and last
	since int        // entries since this writer's last checkpoint
	last  time.Time  // this writer's last checkpoint
}

// NewWriter returns a writer appending to d.
func NewWriter(d store.Driver, o Options) *Writer {
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 100
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Checkpointed == nil {
		o.Checkpointed = func(uint64, string) {}
	}
	return &Writer{d: d, o: o, keyID: KeyID(o.Key.Public()), last: o.Now()}
}

// Append adds entries to the chain (their Seq and Prev are set here), and
// a checkpoint after them when one is due.
func (w *Writer) Append(ctx context.Context, entries ...Entry) error {
	return w.append(ctx, entries, false)
}

// Checkpoint writes a checkpoint now if anything was appended since the
// last one; the gateway calls it on the checkpoint interval.
func (w *Writer) Checkpoint(ctx context.Context) error {
	w.mu.Lock()
	due := w.since > 0
	w.mu.Unlock()
	if !due {
		return nil
	}
	return w.append(ctx, nil, true)
}

func (w *Writer) append(ctx context.Context, entries []Entry, force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var since int
	var signed *Anchor // the checkpoint written, if one was
	var signErr error
	err := w.d.AppendTrail(ctx, func(last store.TrailRecord) ([]store.TrailRecord, error) {
		seq, prev := last.Seq, hex.EncodeToString(last.Hash)
		var recs []store.TrailRecord
		add := func(e Entry) error {
			seq++
			e.Seq, e.Prev = seq, prev
			if e.Time.IsZero() {
				e.Time = w.o.Now()
			}
			e.Time = e.Time.UTC()
			if e.Actor == "" && e.Kind != KindCheckpoint {
				e.Actor = w.o.Actor
			}
			data, err := json.Marshal(e)
			if err != nil {
				return err
			}
			h := sha256.Sum256(data)
			recs = append(recs, store.TrailRecord{Seq: seq, Hash: h[:], Data: data})
			prev = hex.EncodeToString(h[:])
			return nil
		}
		since = w.since
		for _, e := range entries {
			if err := add(e); err != nil {
				return nil, err
			}
			since++
		}
		if force || since >= w.o.CheckpointEvery || w.o.Now().Sub(w.last) >= w.o.CheckpointInterval && since > 0 {
			sig, err := sign(w.o.Key, signedMessage(seq, prev))
			if err != nil {
				signErr = fmt.Errorf("%w: %v", ErrUnsigned, err)
				return recs, nil
			}
			if err := add(Entry{Kind: KindCheckpoint, Action: "trail.checkpoint", Actor: "gateway",
				Checkpoint: &Checkpoint{KeyID: w.keyID, Covers: seq, Signature: base64.StdEncoding.EncodeToString(sig)}}); err != nil {
				return nil, err
			}
			signed = &Anchor{Seq: seq, Hash: prev}
			since = 0
		}
		return recs, nil
	})
	if err != nil {
		return err
	}
	w.since = since
	if signed != nil {
		w.last = w.o.Now()
		w.o.Checkpointed(signed.Seq, signed.Hash)
	}
	return signErr
}
