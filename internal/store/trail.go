package store

import (
	"context"
	"encoding/binary"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// TrailRecord is one entry of the audit trail as stored: its sequence
// number (from 1), its hash, and its canonical bytes. The store keeps
// records; internal/trail gives them meaning (the hash chain, signed
// checkpoints).
type TrailRecord struct {
	Seq  uint64 `json:"seq"`
	Hash []byte `json:"hash"`
	Data []byte `json:"data"`
}

// TrailBuild makes the records to append after last (Seq 0 when the
// trail is empty), inside the store's transaction: appends from several
// processes chain one after another.
type TrailBuild func(last TrailRecord) ([]TrailRecord, error)

var bucketTrail = []byte("trail")

// AppendTrail implements Driver.
func (e *Embedded) AppendTrail(_ context.Context, build TrailBuild) error {
	return e.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTrail)
		if err != nil {
			return err
		}
		var last TrailRecord
		if k, v := b.Cursor().Last(); k != nil {
			if err := json.Unmarshal(v, &last); err != nil {
				return err
			}
		}
		recs, err := build(last)
		if err != nil {
			return err
		}
		for _, r := range recs {
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, r.Seq), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListTrail implements Driver.
func (e *Embedded) ListTrail(_ context.Context, after uint64, limit int) ([]TrailRecord, error) {
	var out []TrailRecord
	err := e.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrail)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r TrailRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// trailLock is the advisory lock appends to the trail take ("trail").
const trailLock = 0x747261696c

// AppendTrail implements Driver: under a transaction-scoped advisory
// lock, so concurrent appenders (several gateways, the CLI) take turns.
func (p *Postgres) AppendTrail(ctx context.Context, build TrailBuild) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, trailLock); err != nil {
			return err
		}
		var last TrailRecord
		err := tx.QueryRow(ctx, `SELECT seq, hash, data FROM rampart_trail ORDER BY seq DESC LIMIT 1`).Scan(&last.Seq, &last.Hash, &last.Data)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		recs, err := build(last)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if _, err := tx.Exec(ctx, `INSERT INTO rampart_trail (seq, hash, data) VALUES ($1, $2, $3)`, int64(r.Seq), r.Hash, r.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListTrail implements Driver.
func (p *Postgres) ListTrail(ctx context.Context, after uint64, limit int) ([]TrailRecord, error) {
	rows, err := p.pool.Query(ctx, `SELECT seq, hash, data FROM rampart_trail WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (TrailRecord, error) {
		var r TrailRecord
		var seq int64
		err := row.Scan(&seq, &r.Hash, &r.Data)
		r.Seq = uint64(seq)
		return r, err
	})
}
