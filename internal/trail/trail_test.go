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
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/store"
)

// fixture is a trail of 12 actions in an embedded store, checkpointed
// every 5 entries, and the anchors its checkpoints published.
type fixture struct {
	path    string
	d       store.Driver
	pub     ed25519.PublicKey
	anchors []Anchor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "rampart.db")}
	d, err := store.OpenEmbedded(f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	f.pub = pub
	w := NewWriter(d, Options{Key: key, Actor: "test", CheckpointEvery: 5, CheckpointInterval: time.Hour,
		Checkpointed: func(seq uint64, hash string) { f.anchors = append(f.anchors, Anchor{Seq: seq, Hash: hash}) }})
	for i := range 12 {
		if err := w.Append(context.Background(), Entry{Kind: KindAction, Action: "key.created", Subject: fmt.Sprintf("key-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// raw edits the stored records directly, as someone with the file would.
func (f *fixture) raw(t *testing.T, fn func(b *bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(f.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { fn(tx.Bucket([]byte("trail"))); return nil }); err != nil {
		t.Fatal(err)
	}
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func record(t *testing.T, b *bolt.Bucket, seq uint64) (store.TrailRecord, Entry) {
	var r store.TrailRecord
	var e Entry
	if err := json.Unmarshal(b.Get(key(seq)), &r); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(r.Data, &e)
	return r, e
}

func put(t *testing.T, b *bolt.Bucket, r store.TrailRecord) {
	v, _ := json.Marshal(r)
	if err := b.Put(key(r.Seq), v); err != nil {
		t.Fatal(err)
	}
}

func rehash(r *store.TrailRecord, e Entry) {
	r.Data, _ = json.Marshal(e)
	h := sha256.Sum256(r.Data)
	r.Hash = h[:]
}

// TestIntact: 12 entries and 2 checkpoints (after entries 5 and 11 of the
// chain) verify, and the entries after the last are reported unsigned.
func TestIntact(t *testing.T) {
	f := newFixture(t)
	rep, err := Verify(context.Background(), f.d, f.pub, f.anchors)
	if err != nil || !rep.OK() {
		t.Fatalf("%+v %v", rep, err)
	}
	if rep.Entries != 14 || rep.Checkpoints != 2 || rep.LastCheckpoint != 12 || rep.Unsigned() != 2 || len(f.anchors) != 2 {
		t.Errorf("report %+v, anchors %v", rep, f.anchors)
	}
	var actions []string
	_ = Export(context.Background(), f.d, 0, func(e Entry, _ string) error { actions = append(actions, e.Action); return nil })
	if len(actions) != 14 || actions[5] != "trail.checkpoint" {
		t.Errorf("export: %v", actions)
	}
}

// TestTampering: each way of changing the stored trail is found, at the
// entry where it was done.
func TestTampering(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, b *bolt.Bucket)
		bad     uint64
		problem string
	}{
		{"edited", func(t *testing.T, b *bolt.Bucket) {
			r, _ := record(t, b, 3)
			r.Data = []byte(strings.Replace(string(r.Data), "key-2", "key-X", 1))
			put(t, b, r)
		}, 3, "altered"},
		{"edited, hash recomputed", func(t *testing.T, b *bolt.Bucket) {
			r, e := record(t, b, 3)
			e.Subject = "key-X"
			rehash(&r, e)
			put(t, b, r)
		}, 4, "does not follow entry 3"},
		{"rewritten from there on, without the key", func(t *testing.T, b *bolt.Bucket) {
			prev := ""
			for seq := uint64(1); seq <= 14; seq++ {
				r, e := record(t, b, seq)
				if seq == 3 {
					e.Subject = "key-X"
				}
				e.Prev = prev
				rehash(&r, e)
				put(t, b, r)
				prev = hex.EncodeToString(r.Hash)
			}
		}, 6, "does not verify"},
		{"deleted", func(t *testing.T, b *bolt.Bucket) { _ = b.Delete(key(8)) }, 8, "missing"},
		{"reordered", func(t *testing.T, b *bolt.Bucket) {
			r7, _ := record(t, b, 7)
			r8, _ := record(t, b, 8)
			r7.Seq, r8.Seq = 8, 7
			put(t, b, r7)
			put(t, b, r8)
		}, 7, "moved"},
		{"truncated", func(t *testing.T, b *bolt.Bucket) {
			for seq := uint64(10); seq <= 14; seq++ {
				_ = b.Delete(key(seq))
			}
		}, 10, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.raw(t, func(b *bolt.Bucket) { tc.tamper(t, b) })
			rep, err := Verify(context.Background(), f.d, f.pub, f.anchors)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.BadSeq != tc.bad || !strings.Contains(rep.Problem, tc.problem) {
				t.Errorf("report %+v, want entry %d: %q", rep, tc.bad, tc.problem)
			}
		})
	}
}

// TestOtherKey: a trail signed with one key does not verify with another.
func TestOtherKey(t *testing.T) {
	f := newFixture(t)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if rep, _ := Verify(context.Background(), f.d, other, nil); rep.OK() || rep.BadSeq != 6 {
		t.Errorf("%+v", rep)
	}
}

// TestSink: admin and config events always go in, security events from
// the minimum severity, the trail's own checkpoints never; Close appends
// what is pending and signs it.
func TestSink(t *testing.T) {
	d, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	pub, k, _ := ed25519.GenerateKey(rand.Reader)
	s := NewSink(NewWriter(d, Options{Key: k}), 3, func(e *observe.Event) int {
		if e.Reason == "waf" {
			return 4
		}
		return 2
	}, nil)
	for _, e := range []observe.Event{
		{Type: "admin.key_revoked", Rule: "k1", Detail: "revoked"},
		{Type: "admin.ban_lifted", Rule: "b1", Stage: "dashboard"},
		{Type: "consumer.key_rotated", Rule: "k2", Consumer: "acme"},
		{Type: "config.reloaded"},
		{Type: "request.refused", Reason: "waf"},
		{Type: "request.refused", Reason: "not_found"},
		{Type: "trail.checkpoint"},
	} {
		_ = s.Write(&e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = Export(context.Background(), d, 0, func(e Entry, _ string) error {
		got = append(got, e.Kind+":"+e.Action+":"+e.Actor+":"+e.Subject)
		return nil
	})
	want := []string{"action:admin.key_revoked:admin-api:k1", "action:admin.ban_lifted:dashboard:b1", "action:consumer.key_rotated:portal:k2", "action:config.reloaded:gateway:", "event:request.refused:gateway:", "checkpoint:trail.checkpoint:gateway:"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if rep, _ := Verify(context.Background(), d, pub, nil); !rep.OK() || rep.Unsigned() != 0 {
		t.Errorf("%+v", rep)
	}
}

// flakySigner is an ECDSA P-256 key in a token that is out of reach
// while down is set.
type flakySigner struct {
	*ecdsa.PrivateKey
	down bool
}

func (s *flakySigner) Sign(r io.Reader, digest []byte, o crypto.SignerOpts) ([]byte, error) {
	if s.down {
		return nil, errors.New("CKR_DEVICE_REMOVED")
	}
	return s.PrivateKey.Sign(r, digest, o)
}

// TestECDSAKey: checkpoints signed by an ECDSA P-256 key (a key in an
// HSM) verify with its public key, as PEM too, and not with another; a
// checkpoint the token cannot sign leaves the entries chained, and the
// next append signs them.
func TestECDSAKey(t *testing.T) {
	d, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := &flakySigner{PrivateKey: k}
	w := NewWriter(d, Options{Key: s, CheckpointEvery: 2, CheckpointInterval: time.Hour})
	ctx := context.Background()
	add := func() error { return w.Append(ctx, Entry{Kind: KindAction, Action: "key.created"}) }
	for range 2 {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	s.down = true
	if err := errors.Join(add(), add()); !errors.Is(err, ErrUnsigned) || !strings.Contains(err.Error(), "CKR_DEVICE_REMOVED") {
		t.Fatalf("a checkpoint the token cannot sign: %v", err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub, err := ParsePublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, d, pub, nil)
	if err != nil || !rep.OK() || rep.Checkpoints != 1 || rep.Entries != 5 || rep.Unsigned() != 2 {
		t.Fatalf("while the token is down: %+v %v", rep, err)
	}
	s.down = false
	if err := add(); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(ctx, d, pub, nil); !rep.OK() || rep.Checkpoints != 2 || rep.Unsigned() != 0 {
		t.Errorf("after the token is back: %+v", rep)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if rep, _ := Verify(ctx, d, &other.PublicKey, nil); rep.OK() || rep.BadSeq != 3 {
		t.Errorf("another key: %+v", rep)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ = x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if _, err := ParsePublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err == nil {
		t.Error("a P-384 key was taken")
	}
}
