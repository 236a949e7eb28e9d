package accessreview

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/store"
)

func TestBuild(t *testing.T) {
	ctx := context.Background()
	d, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(days int) time.Time { return now.Add(-time.Duration(days) * 24 * time.Hour) }
	clock := at(200)
	ks := &store.Keys{D: d, Hasher: store.NewHasher(""), Now: func() time.Time { return clock }}
	_, old, _ := ks.Create(ctx, "acme", store.CreateOptions{})  // 200 days old, used 100 days ago
	_, idle, _ := ks.Create(ctx, "acme", store.CreateOptions{}) // 200 days old, never used
	clock = at(10)
	_, fresh, _ := ks.Create(ctx, "acme", store.CreateOptions{}) // 10 days old, never used: not yet stale
	_, busy, _ := ks.Create(ctx, "globex", store.CreateOptions{})
	_, gone, _ := ks.Create(ctx, "ghost", store.CreateOptions{})
	_, _ = ks.Revoke(ctx, gone.ID)
	_ = d.PutConsumer(ctx, store.Consumer{ID: "globex", Roles: []string{"orders.writer"}, Disabled: true, CreatedAt: at(300)})
	_ = d.PutConsumer(ctx, store.Consumer{ID: "acme", Roles: []string{"ignored: the config wins"}, CreatedAt: at(300)})
	gs := store.Grants{D: d, Now: func() time.Time { return now.Add(-time.Hour) }}
	soon, _ := gs.Create(ctx, "acme", "orders.admin", 3*time.Hour, "INC-1", "cli:alice")
	later, _ := gs.Create(ctx, "globex", "orders.reader", 72*time.Hour, "CHG-2", "cli:bob")
	sso, _ := gs.Create(ctx, "sso:dana", "orders.reader", 48*time.Hour, "CHG-3", "cli:bob") // an IdP subject, no record
	_ = d.RecordUsage(ctx, []store.Usage{
		{Kind: store.UsageKey, Subject: old.ID, At: at(100)},
		{Kind: store.UsageKey, Subject: busy.ID, At: at(1)},
		{Kind: store.UsageRole, Subject: store.RoleSubject("acme", "orders.reader"), At: at(2)},
		{Kind: store.UsageRole, Subject: store.RoleSubject("acme", "orders.writer"), At: at(120)},
	})
	cfg := &config.Config{Consumers: []*config.Consumer{{ID: "acme", Roles: []string{"orders.reader", "orders.writer", "reports"}}}}

	rep, err := Build(ctx, cfg, d, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		var out []string
		for _, c := range rep.Consumers {
			out = append(out, c.ID+"/"+c.Source)
		}
		return out
	}
	if got := ids(); !slices.Equal(got, []string{"acme/config", "ghost/store", "globex/store", "sso:dana/none"}) {
		t.Fatalf("consumers %v", got)
	}
	acme, ghost, globex := rep.Consumers[0], rep.Consumers[1], rep.Consumers[2]
	flags := map[string][]string{}
	for _, c := range rep.Consumers {
		flags[c.ID] = c.Flags
		for _, r := range c.Roles {
			flags[c.ID+" role "+r.Name] = r.Flags
		}
		for _, k := range c.Keys {
			flags[k.ID] = k.Flags
		}
		for _, g := range c.Grants {
			flags[g.ID] = g.Flags
		}
	}
	for item, want := range map[string][]string{
		old.ID: {KeyUnused}, idle.ID: {KeyUnused}, fresh.ID: nil, busy.ID: nil, gone.ID: nil,
		"acme role orders.reader": nil, "acme role orders.writer": {RoleUnused}, "acme role reports": {RoleNeverUsed},
		"acme role orders.admin": nil, // by a grant: judged by its expiry
		soon.ID:                  {GrantLapsesSoon}, later.ID: nil,
		"globex": {DisabledWithKeys}, "ghost": nil, "sso:dana": nil, sso.ID: nil,
		"globex role orders.writer": {RoleNeverUsed},
	} {
		if !slices.Equal(flags[item], want) {
			t.Errorf("%s: flags %v, want %v", item, flags[item], want)
		}
	}
	i := slices.IndexFunc(acme.Keys, func(k Key) bool { return k.ID == old.ID })
	if len(acme.Roles) != 4 || acme.Roles[3].Via != "grant" || len(acme.Keys) != 3 || i < 0 || acme.Keys[i].AgeDays != 200 || !acme.Keys[i].LastUsed.Equal(at(100)) {
		t.Errorf("acme %+v", acme)
	}
	if ghost.Keys[0].State != "revoked" || len(globex.Grants) != 1 {
		t.Errorf("ghost %+v globex %+v", ghost, globex)
	}
	if rep.Findings != 7 {
		t.Errorf("findings %d, want 7", rep.Findings)
	}

	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 1+4+6+5+2+2 || rows[0][0] != "consumer" {
		t.Fatalf("csv: %v %d rows\n%v", err, len(rows), rows)
	}

	// revocation: the two stale keys, each recorded; a key used since the
	// report was built is spared
	_ = d.RecordUsage(ctx, []store.Usage{{Kind: store.UsageKey, Subject: idle.ID, At: time.Now()}})
	var recorded []string
	revoked, err := RevokeUnused(ctx, d, rep, Options{}, func(k store.Key, detail string) { recorded = append(recorded, k.ID+": "+detail) })
	if err != nil || !slices.Equal(revoked, []string{old.ID}) || len(recorded) != 1 {
		t.Fatalf("revoked %v %v %v", revoked, err, recorded)
	}
	if k, _ := d.GetKey(ctx, old.ID); k.State(time.Now()) != "revoked" {
		t.Fatal("not revoked in the store")
	}
}
