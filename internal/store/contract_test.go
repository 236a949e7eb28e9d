package store

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// drivers returns every driver the contract runs against: the embedded
// file and a real PostgreSQL server started for the test.
func drivers(t *testing.T) map[string]Driver {
	e, err := OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	pg := testenv.StartPostgres(t)
	p, err := OpenPostgres(context.Background(), pg.DSN)
	if err != nil {
		t.Fatalf("%v\n%s", err, pg.Log())
	}
	t.Cleanup(func() { p.Close() })
	return map[string]Driver{"embedded": e, "postgres": p}
}

func TestContract(t *testing.T) {
	for name, d := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
			ks := &Keys{D: d, Hasher: NewHasher("pepper"), Now: func() time.Time { return clock }}
			v0, err := d.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			plain, k, err := ks.Create(ctx, "acme", CreateOptions{Scopes: []string{"orders:read"}, ExpiresIn: 30 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			id, secret, ok := ParseKey(plain)
			if !ok || id != k.ID || !strings.HasPrefix(plain, "rk_"+k.ID+"_") {
				t.Fatalf("key %q does not parse to id %s", plain, k.ID)
			}
			if v1, _ := d.Version(ctx); v1 == v0 {
				t.Fatal("version did not change on create")
			}
			got, err := d.GetKey(ctx, id)
			if err != nil || !ks.Hasher.Match(secret, got.Hash) || got.Consumer != "acme" || got.Scopes[0] != "orders:read" {
				t.Fatalf("stored key %+v, %v", got, err)
			}
			if strings.Contains(string(got.Hash), secret) || NewHasher("other").Match(secret, got.Hash) {
				t.Fatal("hash does not depend on the hash key")
			}
			if _, err := d.GetConsumer(ctx, "acme"); err != nil {
				t.Fatalf("consumer not created: %v", err)
			}
			if _, err := d.GetKey(ctx, "missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			if _, err := d.GetConsumer(ctx, "missing"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing consumer: %v", err)
			}

			// Records round-trip unchanged.
			want := Consumer{ID: "globex", Roles: []string{"admin", "reader"}, Scopes: []string{"a:b"},
				Attributes: map[string]string{"account": "42", "tier": "gold"}, Disabled: true, CreatedAt: clock}
			if err := d.PutConsumer(ctx, want); err != nil {
				t.Fatal(err)
			}
			if c, err := d.GetConsumer(ctx, "globex"); err != nil || !reflect.DeepEqual(c, want) {
				t.Fatalf("consumer round trip:\n got %+v %v\nwant %+v", c, err, want)
			}
			if !reflect.DeepEqual(got, k) {
				t.Fatalf("key round trip:\n got %+v\nwant %+v", got, k)
			}

			// Rotation: the old key works for the overlap, then expires.
			plain2, next, old, err := ks.Rotate(ctx, id, time.Hour)
			if err != nil || plain2 == plain || old.ReplacedBy != next.ID {
				t.Fatalf("rotate: %v %+v", err, old)
			}
			if st := old.State(clock.Add(59 * time.Minute)); st != "active" {
				t.Fatalf("old key during overlap: %s", st)
			}
			if st := old.State(clock.Add(61 * time.Minute)); st != "expired" {
				t.Fatalf("old key after overlap: %s", st)
			}
			if !next.ExpiresAt.Equal(clock.Add(30 * 24 * time.Hour)) {
				t.Fatalf("successor lifetime %v", next.ExpiresAt)
			}
			if _, err := ks.Revoke(ctx, next.ID); err != nil {
				t.Fatal(err)
			}
			if k, _ := d.GetKey(ctx, next.ID); k.State(clock) != "revoked" {
				t.Fatalf("revoked key is %s", k.State(clock))
			}
			list, err := d.ListKeys(ctx, "acme")
			if err != nil || len(list) != 2 {
				t.Fatalf("list: %v %d", err, len(list))
			}
			if other, _ := d.ListKeys(ctx, "nobody"); len(other) != 0 {
				t.Fatal("list by consumer leaks other keys")
			}

			// A directory picks changes up within its interval.
			dir, err := OpenDirectory(ctx, d, 50*time.Millisecond, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer dir.Close()
			_, k3, _ := ks.Create(ctx, "beta", CreateOptions{})
			deadline := time.Now().Add(2 * time.Second)
			for {
				if _, ok := dir.Key(k3.ID); ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("directory did not pick up a new key")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	good := "rk_abcdefghijklmnop_" + strings.Repeat("a", 52)
	for _, s := range []string{good[:len(good)-1], strings.Replace(good, "rk_", "xk_", 1), strings.ToUpper(good),
		strings.Replace(good, "_a", "-a", 1), good + "a", ""} {
		if _, _, ok := ParseKey(s); ok {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
	if id, _, ok := ParseKey(good); !ok || id != "abcdefghijklmnop" {
		t.Fatal("good key refused")
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("rk_abcdefghijklmnop_" + strings.Repeat("a", 52))
	f.Add("rk__")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := ParseKey(s)
		if ok && (len(id) != idLen || len(secret) != secLen || "rk_"+id+"_"+secret != s) {
			t.Fatalf("inconsistent parse of %q", s)
		}
	})
}

// TestTrailContract: appends see the last record inside their
// transaction, so concurrent appenders chain one after another with no
// gap and no duplicate sequence number; ListTrail pages in order.
func TestTrailContract(t *testing.T) {
	for name, d := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if recs, err := d.ListTrail(ctx, 0, 10); err != nil || len(recs) != 0 {
				t.Fatalf("empty trail: %v %v", recs, err)
			}
			appendOne := func() error {
				return d.AppendTrail(ctx, func(last TrailRecord) ([]TrailRecord, error) {
					// each record's data names the one before it
					return []TrailRecord{{Seq: last.Seq + 1, Hash: []byte{byte(last.Seq + 1)}, Data: []byte(strings.Repeat("x", int(last.Seq)))}}, nil
				})
			}
			errs := make(chan error, 8)
			for range 8 {
				go func() { errs <- appendOne() }()
			}
			for range 8 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			recs, err := d.ListTrail(ctx, 0, 100)
			if err != nil || len(recs) != 8 {
				t.Fatalf("%d records, %v", len(recs), err)
			}
			for i, r := range recs {
				if r.Seq != uint64(i+1) || len(r.Data) != i || r.Hash[0] != byte(i+1) {
					t.Errorf("record %d: %+v", i, r)
				}
			}
			if page, _ := d.ListTrail(ctx, 5, 2); len(page) != 2 || page[0].Seq != 6 || page[1].Seq != 7 {
				t.Errorf("page after 5: %+v", page)
			}
			if err := d.AppendTrail(ctx, func(TrailRecord) ([]TrailRecord, error) { return nil, errors.New("refused") }); err == nil {
				t.Error("a failing build appended")
			}
		})
	}
}

// TestBlobsContract: blobs and leases behave alike on every driver.
func TestBlobsContract(t *testing.T) {
	for name, d := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := d.GetBlob(ctx, "certs/a"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing blob: %v", err)
			}
			before := time.Now().Add(-time.Second)
			for _, n := range []string{"certs/a/cert", "certs/a/key", "certs/ab", "acme/account"} {
				if err := d.PutBlob(ctx, n, []byte("v:"+n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.PutBlob(ctx, "certs/a/cert", []byte("v2")); err != nil {
				t.Fatal(err)
			}
			b, err := d.GetBlob(ctx, "certs/a/cert")
			if err != nil || string(b.Value) != "v2" || b.Modified.Before(before) {
				t.Fatalf("GetBlob = %q %v %v", b.Value, b.Modified, err)
			}
			if names, err := d.ListBlobs(ctx, "certs/"); err != nil || !reflect.DeepEqual(names, []string{"certs/a/cert", "certs/a/key", "certs/ab"}) {
				t.Fatalf("ListBlobs = %v %v", names, err)
			}
			if err := d.DeleteBlobs(ctx, "certs/a"); err != nil {
				t.Fatal(err)
			}
			if names, _ := d.ListBlobs(ctx, ""); !reflect.DeepEqual(names, []string{"acme/account", "certs/ab"}) {
				t.Fatalf("after DeleteBlobs(certs/a): %v", names)
			}

			won := func(owner string, ttl time.Duration) bool {
				ok, err := d.TryLease(ctx, "obtain", owner, ttl)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !won("node-a", time.Minute) || won("node-b", time.Minute) || !won("node-a", time.Minute) {
				t.Fatal("a held lease went to another owner, or not back to its own")
			}
			if err := d.DropLease(ctx, "obtain", "node-b"); err != nil || won("node-b", time.Minute) {
				t.Fatal("another owner dropped the lease")
			}
			if err := d.DropLease(ctx, "obtain", "node-a"); err != nil || !won("node-b", 50*time.Millisecond) {
				t.Fatal("a dropped lease was not free")
			}
			time.Sleep(100 * time.Millisecond)
			if !won("node-a", time.Minute) {
				t.Fatal("an expired lease was not free")
			}
		})
	}
}

// TestGrantsContract: just-in-time grants on every driver, and in the
// directory a gateway reads: a grant is in force from its creation to
// its expiry or revocation, the version moves with each change, and
// nothing of the record is lost between writing and reading.
func TestGrantsContract(t *testing.T) {
	for name, d := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// The directory drops grants expired by the wall clock when it
			// loads, so the grants' clock starts from it.
			clock := time.Now().UTC().Truncate(time.Second)
			gs := Grants{D: d, Now: func() time.Time { return clock }}
			for _, bad := range []struct {
				role   string
				d      time.Duration
				reason string
				want   string
			}{
				{"oncall", 4 * time.Second, "INC-1", "a grant lasts from"},
				{"oncall", 31 * 24 * time.Hour, "INC-1", "a grant lasts from"},
				{"oncall", time.Hour, " ", "needs a reason"},
				{"oncall", time.Hour, "a\nb", "one line"},
				{"", time.Hour, "INC-1", "needs a consumer and a role"},
			} {
				if _, err := gs.Create(ctx, "acme", bad.role, bad.d, bad.reason, "test"); !errors.Is(err, ErrGrantInvalid) || !strings.Contains(err.Error(), bad.want) {
					t.Fatalf("grant %+v: %v", bad, err)
				}
			}
			v0, _ := d.Version(ctx)
			g1, err := gs.Create(ctx, "acme", "orders.admin", 2*time.Hour, "INC-4711: refund stuck orders", "cli:alice")
			if err != nil {
				t.Fatal(err)
			}
			if v1, _ := d.Version(ctx); v1 == v0 {
				t.Fatal("version did not change on a grant")
			}
			g2, _ := gs.Create(ctx, "beta", "orders.reader", time.Hour, "CHG-12", "admin:10.0.0.5")
			got, err := d.GetGrant(ctx, g1.ID)
			if err != nil || !reflect.DeepEqual(got, g1) {
				t.Fatalf("stored %+v, %v; wrote %+v", got, err, g1)
			}
			if g1.ExpiresAt != clock.Add(2*time.Hour) || !strings.HasPrefix(g1.ID, "g_") {
				t.Fatalf("grant %+v", g1)
			}
			if list, _ := d.ListGrants(ctx, "acme"); len(list) != 1 || list[0].ID != g1.ID {
				t.Fatalf("acme's grants %+v", list)
			}
			dir, err := OpenDirectory(ctx, d, time.Hour, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer dir.Close()
			if r := dir.GrantedRoles("acme", clock.Add(time.Hour)); !reflect.DeepEqual(r, []string{"orders.admin"}) {
				t.Fatalf("granted roles %v", r)
			}
			if r := dir.GrantedRoles("acme", clock.Add(2*time.Hour)); r != nil {
				t.Fatalf("roles at the expiry: %v", r)
			}
			clock = clock.Add(30 * time.Minute)
			rev, err := gs.Revoke(ctx, g2.ID, "cli:bob")
			if err != nil || rev.State(clock) != "revoked" || rev.RevokedBy != "cli:bob" {
				t.Fatalf("revoke: %+v %v", rev, err)
			}
			if _, err := gs.Revoke(ctx, g2.ID, "cli:bob"); !errors.Is(err, ErrGrantInvalid) || !strings.Contains(err.Error(), "revoked already") {
				t.Fatalf("second revoke: %v", err)
			}
			if _, err := gs.Revoke(ctx, "g_none", "cli:bob"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("revoke of nothing: %v", err)
			}
			if active, _ := gs.Active(ctx, ""); len(active) != 1 || active[0].ID != g1.ID {
				t.Fatalf("active %+v", active)
			}
			if all, _ := d.ListGrants(ctx, ""); len(all) != 2 {
				t.Fatalf("grants are kept after revocation: %+v", all)
			}
		})
	}
}

// TestUsageContract: last-use times only move forward, are listed back
// to the second, leave the version alone, and a directory writes what
// it saw used.
func TestUsageContract(t *testing.T) {
	for name, d := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			v0, _ := d.Version(ctx)
			if err := d.RecordUsage(ctx, []Usage{{UsageKey, "k1", t0}, {UsageRole, RoleSubject("acme", "orders.reader"), t0}}); err != nil {
				t.Fatal(err)
			}
			if err := d.RecordUsage(ctx, []Usage{{UsageKey, "k1", t0.Add(-time.Hour)}, {UsageKey, "k2", t0.Add(time.Minute)}}); err != nil {
				t.Fatal(err)
			}
			if v1, _ := d.Version(ctx); v1 != v0 {
				t.Fatal("usage moved the version: every node would reload")
			}
			dir, err := OpenDirectory(ctx, d, time.Hour, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer dir.Close() // it closes the driver too
			dir.MarkUsed("k2", t0.Add(2*time.Hour))
			dir.MarkRoleUsed("acme", "orders.writer", t0.Add(3*time.Hour))
			if err := dir.flushUsage(ctx); err != nil {
				t.Fatal(err)
			}
			dir.MarkUsed("k2", t0.Add(2*time.Hour+time.Second)) // the same minute: nothing new to write
			if c := dir.keysUsed.changed(); len(c) != 0 {
				t.Fatalf("rewritten within the minute: %v", c)
			}
			got, err := d.ListUsage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]time.Time{"key k1": t0, "key k2": t0.Add(2 * time.Hour), "role acme orders.reader": t0, "role acme orders.writer": t0.Add(3 * time.Hour)}
			if len(got) != len(want) {
				t.Fatalf("usage %+v", got)
			}
			for _, u := range got {
				if w := want[u.Kind+" "+u.Subject]; !u.At.Equal(w) {
					t.Errorf("%s %s at %v, want %v", u.Kind, u.Subject, u.At, w)
				}
			}
		})
	}
}
