package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/rampart-gw/rampart/internal/accessreview"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/store"
)

// errNoStore is an access review without a store to read.
var errNoStore = errors.New("no store is configured: keys, grants and usage live in it")

// reviewOptions are the review's thresholds from the serving config.
func reviewOptions(cfg *config.Config) accessreview.Options {
	var o accessreview.Options
	if a := cfg.AccessReview; a != nil {
		o.UnusedAfter, o.LapseWithin = a.UnusedAfter.D(), a.LapseWithin.D()
	}
	return o
}

// AccessReview builds the access review of the serving config and its
// store, with the config's thresholds.
func (g *Gateway) AccessReview(ctx context.Context) (*accessreview.Report, error) {
	s := g.current.Load()
	if s.directory == nil {
		return nil, errNoStore
	}
	return accessreview.Build(ctx, s.cfg, s.directory.Driver(), reviewOptions(s.cfg))
}

// reviewLease is held by the node that revokes unused keys this hour.
const reviewLease = "access-review/revoke-unused"

// revokeUnusedKeys runs the automatic revocation of
// access_review.revoke_unused_keys: soon after start, then hourly, on
// one node at a time (a lease in the store), each key revoked an
// admin.key_revoked event that names the review, into the audit trail.
func (g *Gateway) revokeUnusedKeys() {
	wait := 5 * time.Second
	for {
		t := time.NewTimer(wait)
		select {
		case <-g.stopSweep:
			t.Stop()
			return
		case <-t.C:
		}
		wait = time.Hour
		s := g.current.Load()
		if s.directory == nil || s.cfg.AccessReview == nil || !s.cfg.AccessReview.RevokeUnusedKeys {
			continue
		}
		if err := g.revokeOnce(s.cfg, s.directory.Driver()); err != nil {
			g.log.Warn("access review: unused keys could not be revoked; trying again in an hour", "error", err)
		}
	}
}

func (g *Gateway) revokeOnce(cfg *config.Config, d store.Driver) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	won, err := d.TryLease(ctx, reviewLease, g.nodeID, 50*time.Minute)
	if err != nil || !won {
		return err // another node has this hour
	}
	o := reviewOptions(cfg)
	rep, err := accessreview.Build(ctx, cfg, d, o)
	if err != nil {
		return err
	}
	revoked, err := accessreview.RevokeUnused(ctx, d, rep, o, func(k store.Key, detail string) {
		g.bus.Publish(observe.Event{Type: "admin.key_revoked", Stage: "admin", Reason: "access_review", Rule: k.ID, Consumer: k.Consumer, Detail: detail})
	})
	if len(revoked) > 0 {
		g.log.Info("access review: unused keys revoked", "keys", len(revoked))
	}
	return err
}
