package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the driver for a store shared by several gateways. Its
// schema is applied at open by numbered migrations, each once, under an
// advisory lock so that gateways starting together do not race. A
// trigger bumps one version row on every change to keys or consumers,
// whoever makes it (a gateway, `rampart keys`, or an operator in psql),
// which is what every node's Directory polls.
type Postgres struct {
	pool *pgxpool.Pool
}

// migrations are applied in order; an applied one is never edited, only
// followed by a new one.
var migrations = []string{
	// 1: keys, consumers and the change counter.
	`CREATE TABLE rampart_consumers (
		id          text PRIMARY KEY,
		roles       text[] NOT NULL DEFAULT '{}',
		scopes      text[] NOT NULL DEFAULT '{}',
		attributes  jsonb NOT NULL DEFAULT '{}',
		disabled    boolean NOT NULL DEFAULT false,
		created_at  timestamptz NOT NULL
	);
	CREATE TABLE rampart_keys (
		id           text PRIMARY KEY,
		consumer     text NOT NULL,
		hash         bytea NOT NULL,
		scopes       text[] NOT NULL DEFAULT '{}',
		created_at   timestamptz NOT NULL,
		expires_at   timestamptz,
		revoked_at   timestamptz,
		replaced_by  text NOT NULL DEFAULT ''
	);
	CREATE INDEX rampart_keys_consumer ON rampart_keys (consumer);
	CREATE TABLE rampart_version (
		one      boolean PRIMARY KEY DEFAULT true CHECK (one),
		version  bigint NOT NULL
	);
	INSERT INTO rampart_version VALUES (true, 0);
	CREATE FUNCTION rampart_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		UPDATE rampart_version SET version = version + 1;
		RETURN NULL;
	END $$;
	CREATE TRIGGER rampart_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rampart_keys
		FOR EACH STATEMENT EXECUTE FUNCTION rampart_bump_version();
	CREATE TRIGGER rampart_consumers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rampart_consumers
		FOR EACH STATEMENT EXECUTE FUNCTION rampart_bump_version();`,
	// 2: the audit trail (internal/trail gives it meaning).
	`CREATE TABLE rampart_trail (
		seq   bigint PRIMARY KEY CHECK (seq > 0),
		hash  bytea NOT NULL,
		data  bytea NOT NULL
	);`,
	// 3: blobs (managed certificates) and the leases that serialise work
	// on them across nodes.
	`CREATE TABLE rampart_blobs (
		name      text PRIMARY KEY,
		value     bytea NOT NULL,
		modified  timestamptz NOT NULL
	);
	CREATE TABLE rampart_leases (
		name     text PRIMARY KEY,
		owner    text NOT NULL,
		expires  timestamptz NOT NULL
	);`,
	// 4: just-in-time grants, which change what requests may do: a
	// change bumps the version the gateways poll.
	`CREATE TABLE rampart_grants (
		id          text PRIMARY KEY,
		consumer    text NOT NULL,
		role        text NOT NULL,
		reason      text NOT NULL,
		granted_by  text NOT NULL,
		created_at  timestamptz NOT NULL,
		expires_at  timestamptz NOT NULL,
		revoked_at  timestamptz,
		revoked_by  text NOT NULL DEFAULT ''
	);
	CREATE INDEX rampart_grants_consumer ON rampart_grants (consumer);
	CREATE TRIGGER rampart_grants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rampart_grants
		FOR EACH STATEMENT EXECUTE FUNCTION rampart_bump_version();`,
	// 5: when keys and roles were last used, for access reviews; no
	// trigger: usage is not a change the gateways reload for.
	`CREATE TABLE rampart_usage (
		kind       text NOT NULL,
		subject    text NOT NULL,
		last_used  timestamptz NOT NULL,
		PRIMARY KEY (kind, subject)
	);`,
}

// migrationLock is the advisory lock id held while migrating ("rampart"
// in ASCII).
const migrationLock = 0x72616d70617274

// OpenPostgres connects with dsn and applies pending migrations.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("store dsn does not parse as a PostgreSQL connection string (URL or key=value form)")
	}
	if cfg.MaxConns > 8 {
		cfg.MaxConns = 8 // a directory reload and a few admin writes at a time
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store postgres: %w", err)
	}
	p := &Postgres{pool: pool}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store postgres %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return p, nil
}

func (p *Postgres) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS rampart_migrations (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var done int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM rampart_migrations`).Scan(&done); err != nil {
			return err
		}
		if done > len(migrations) {
			return fmt.Errorf("schema is at migration %d, newer than this build knows (%d): upgrade rampart", done, len(migrations))
		}
		for i := done; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rampart_migrations (version) VALUES ($1)`, i+1); err != nil {
				return err
			}
		}
		return nil
	})
}

const keyColumns = `id, consumer, hash, scopes, created_at, expires_at, revoked_at, replaced_by`

// nullTime maps the zero time to NULL and back.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func scanKey(row pgx.Row) (Key, error) {
	var k Key
	var exp, rev *time.Time
	if err := row.Scan(&k.ID, &k.Consumer, &k.Hash, &k.Scopes, &k.CreatedAt, &exp, &rev, &k.ReplacedBy); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return k, ErrNotFound
		}
		return k, err
	}
	if exp != nil {
		k.ExpiresAt = exp.UTC()
	}
	if rev != nil {
		k.RevokedAt = rev.UTC()
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	return k, nil
}

// PutKey implements Driver.
func (p *Postgres) PutKey(ctx context.Context, k Key) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO rampart_keys (`+keyColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
		ON CONFLICT (id) DO UPDATE SET consumer=$2, hash=$3, scopes=$4, created_at=$5, expires_at=$6, revoked_at=$7, replaced_by=$8`,
		k.ID, k.Consumer, k.Hash, nonNil(k.Scopes), k.CreatedAt, nullTime(k.ExpiresAt), nullTime(k.RevokedAt), k.ReplacedBy)
	return err
}

// GetKey implements Driver.
func (p *Postgres) GetKey(ctx context.Context, id string) (Key, error) {
	return scanKey(p.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM rampart_keys WHERE id = $1`, id))
}

// ListKeys implements Driver.
func (p *Postgres) ListKeys(ctx context.Context, consumer string) ([]Key, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+keyColumns+` FROM rampart_keys
		WHERE $1 = '' OR consumer = $1 ORDER BY created_at, id`, consumer)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
}

const consumerColumns = `id, roles, scopes, attributes, disabled, created_at`

func scanConsumer(row pgx.Row) (Consumer, error) {
	var c Consumer
	if err := row.Scan(&c.ID, &c.Roles, &c.Scopes, &c.Attributes, &c.Disabled, &c.CreatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return c, ErrNotFound
		}
		return c, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	if len(c.Roles) == 0 {
		c.Roles = nil
	}
	if len(c.Scopes) == 0 {
		c.Scopes = nil
	}
	if len(c.Attributes) == 0 {
		c.Attributes = nil
	}
	return c, nil
}

// PutConsumer implements Driver.
func (p *Postgres) PutConsumer(ctx context.Context, c Consumer) error {
	attrs := c.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO rampart_consumers (`+consumerColumns+`) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (id) DO UPDATE SET roles=$2, scopes=$3, attributes=$4, disabled=$5, created_at=$6`,
		c.ID, nonNil(c.Roles), nonNil(c.Scopes), attrs, c.Disabled, c.CreatedAt)
	return err
}

// GetConsumer implements Driver.
func (p *Postgres) GetConsumer(ctx context.Context, id string) (Consumer, error) {
	return scanConsumer(p.pool.QueryRow(ctx, `SELECT `+consumerColumns+` FROM rampart_consumers WHERE id = $1`, id))
}

// ListConsumers implements Driver.
func (p *Postgres) ListConsumers(ctx context.Context) ([]Consumer, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+consumerColumns+` FROM rampart_consumers ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Consumer, error) { return scanConsumer(r) })
}

const grantColumns = `id, consumer, role, reason, granted_by, created_at, expires_at, revoked_at, revoked_by`

func scanGrant(row pgx.Row) (Grant, error) {
	var g Grant
	var revoked *time.Time
	if err := row.Scan(&g.ID, &g.Consumer, &g.Role, &g.Reason, &g.GrantedBy, &g.CreatedAt, &g.ExpiresAt, &revoked, &g.RevokedBy); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return g, ErrNotFound
		}
		return g, err
	}
	g.CreatedAt, g.ExpiresAt = g.CreatedAt.UTC(), g.ExpiresAt.UTC()
	if revoked != nil {
		g.RevokedAt = revoked.UTC()
	}
	return g, nil
}

// PutGrant implements Driver.
func (p *Postgres) PutGrant(ctx context.Context, g Grant) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO rampart_grants (`+grantColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (id) DO UPDATE SET consumer=$2, role=$3, reason=$4, granted_by=$5, created_at=$6, expires_at=$7, revoked_at=$8, revoked_by=$9`,
		g.ID, g.Consumer, g.Role, g.Reason, g.GrantedBy, g.CreatedAt, g.ExpiresAt, nullTime(g.RevokedAt), g.RevokedBy)
	return err
}

// GetGrant implements Driver.
func (p *Postgres) GetGrant(ctx context.Context, id string) (Grant, error) {
	return scanGrant(p.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM rampart_grants WHERE id = $1`, id))
}

// ListGrants implements Driver.
func (p *Postgres) ListGrants(ctx context.Context, consumer string) ([]Grant, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+grantColumns+` FROM rampart_grants
		WHERE $1 = '' OR consumer = $1 ORDER BY created_at, id`, consumer)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Grant, error) { return scanGrant(r) })
}

// RecordUsage implements Driver.
func (p *Postgres) RecordUsage(ctx context.Context, batch []Usage) error {
	b := &pgx.Batch{}
	for _, u := range batch {
		b.Queue(`INSERT INTO rampart_usage (kind, subject, last_used) VALUES ($1, $2, $3)
			ON CONFLICT (kind, subject) DO UPDATE SET last_used = GREATEST(rampart_usage.last_used, EXCLUDED.last_used)`, u.Kind, u.Subject, u.At)
	}
	return p.pool.SendBatch(ctx, b).Close()
}

// ListUsage implements Driver.
func (p *Postgres) ListUsage(ctx context.Context) ([]Usage, error) {
	rows, err := p.pool.Query(ctx, `SELECT kind, subject, last_used FROM rampart_usage ORDER BY kind, subject`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Usage, error) {
		var u Usage
		err := r.Scan(&u.Kind, &u.Subject, &u.At)
		u.At = u.At.UTC()
		return u, err
	})
}

// Version implements Driver.
func (p *Postgres) Version(ctx context.Context) (uint64, error) {
	var v int64
	err := p.pool.QueryRow(ctx, `SELECT version FROM rampart_version`).Scan(&v)
	return uint64(v), err
}

// Close implements Driver.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// nonNil gives PostgreSQL an empty array rather than NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PutBlob implements Blobs.
func (p *Postgres) PutBlob(ctx context.Context, name string, value []byte) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO rampart_blobs (name, value, modified) VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, modified = excluded.modified`, name, value)
	return err
}

// GetBlob implements Blobs.
func (p *Postgres) GetBlob(ctx context.Context, name string) (Blob, error) {
	var b Blob
	err := p.pool.QueryRow(ctx, `SELECT value, modified FROM rampart_blobs WHERE name = $1`, name).Scan(&b.Value, &b.Modified)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrNotFound
	}
	b.Modified = b.Modified.UTC()
	return b, err
}

// DeleteBlobs implements Blobs.
func (p *Postgres) DeleteBlobs(ctx context.Context, name string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM rampart_blobs WHERE name = $1 OR starts_with(name, $2)`, name, name+"/")
	return err
}

// ListBlobs implements Blobs.
func (p *Postgres) ListBlobs(ctx context.Context, prefix string) ([]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT name FROM rampart_blobs WHERE starts_with(name, $1) ORDER BY name`, prefix)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// TryLease implements Blobs: one statement, so two nodes asking at once
// cannot both win.
func (p *Postgres) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	tag, err := p.pool.Exec(ctx, `INSERT INTO rampart_leases (name, owner, expires) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE rampart_leases.expires < now() OR rampart_leases.owner = excluded.owner`, name, owner, ttl.Milliseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// DropLease implements Blobs.
func (p *Postgres) DropLease(ctx context.Context, name, owner string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM rampart_leases WHERE name = $1 AND owner = $2`, name, owner)
	return err
}
