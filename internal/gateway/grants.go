package gateway

import (
	"context"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
)

// grantLeaseTTL is how long the record that a grant's expiry was
// reported outlives it: one node reports each expiry, whichever sees it
// first.
const grantLeaseTTL = 400 * 24 * time.Hour

// watchGrants reports each just-in-time grant's expiry once, as an
// admin.grant_expired event (into the audit trail with the grant and
// its revocation), a few seconds after it: the grant itself stops
// working at its expiry on the dot, on every node, without this.
func (g *Gateway) watchGrants() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	reported := map[string]bool{}
	for {
		select {
		case <-g.stopSweep:
			return
		case now := <-t.C:
			dir := g.current.Load().directory
			if dir == nil {
				continue
			}
			for _, gr := range dir.Grants() {
				if reported[gr.ID] || gr.State(now) != "expired" {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				won, err := dir.Driver().TryLease(ctx, "grant-expired/"+gr.ID, g.nodeID, grantLeaseTTL)
				cancel()
				if err != nil {
					continue // the store is unreachable: try again next tick
				}
				reported[gr.ID] = true
				if won {
					g.bus.Publish(observe.Event{Type: "admin.grant_expired", Stage: "admin", Rule: gr.ID, Consumer: gr.Consumer, Detail: gr.ExpiredDetail()})
				}
			}
		}
	}
}
