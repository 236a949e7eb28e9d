package store

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestPostgresMigrations: gateways starting together apply the schema
// once; a change made outside rampart (psql) still bumps the version; a
// schema newer than the build is refused rather than misread.
func TestPostgresMigrations(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			p, err := OpenPostgres(ctx, pg.DSN)
			if err == nil {
				p.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v\n%s", err, pg.Log())
		}
	}
	p, err := OpenPostgres(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var applied int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM rampart_migrations`).Scan(&applied); err != nil || applied != len(migrations) {
		t.Fatalf("migrations applied %d times (%v), want %d", applied, err, len(migrations))
	}

	v0, _ := p.Version(ctx)
	if _, err := p.pool.Exec(ctx, `INSERT INTO rampart_consumers (id, created_at) VALUES ('by-hand', now())`); err != nil {
		t.Fatal(err)
	}
	if v1, _ := p.Version(ctx); v1 == v0 {
		t.Fatal("a change made in SQL did not bump the version")
	}
	c, err := p.GetConsumer(ctx, "by-hand")
	if err != nil || c.Roles != nil || c.Attributes != nil {
		t.Fatalf("defaults read back as %+v, %v", c, err)
	}

	if _, err := p.pool.Exec(ctx, `INSERT INTO rampart_migrations (version) VALUES ($1)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgres(ctx, pg.DSN); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("newer schema: %v", err)
	}
}

// TestPostgresDSNNotEchoed: a malformed DSN's error never repeats it (it
// may hold the password); an unreachable server's error names the host.
func TestPostgresDSNNotEchoed(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://u:s3cret@[::1/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad dsn: %v", err)
	}
	_, err = OpenPostgres(context.Background(), "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
}
