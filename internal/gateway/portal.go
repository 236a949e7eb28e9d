package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/portal"
	"github.com/rampart-gw/rampart/internal/store"
)

// portalKeys is self-service's view of the store: the snapshot's
// directory, through which keys are listed and rotated, and which knows
// when this node last accepted each key.
type portalKeys struct {
	dir    *store.Directory
	hasher store.Hasher
}

func (k portalKeys) ListKeys(ctx context.Context, consumer string) ([]store.Key, error) {
	return k.dir.Driver().ListKeys(ctx, consumer)
}

func (k portalKeys) Rotate(ctx context.Context, id string, overlap time.Duration) (string, store.Key, store.Key, error) {
	return (&store.Keys{D: k.dir.Driver(), Hasher: k.hasher}).Rotate(ctx, id, overlap)
}

func (k portalKeys) LastUsed(id string) time.Time { return k.dir.LastUsed(id) }

// buildPortal compiles the developer portal of cfg into s, when it has
// one: self-service authenticates with portal.policy's authenticators.
func (g *Gateway) buildPortal(cfg *config.Config, s *Snapshot, auth *compiledIdentity) error {
	if cfg.Portal == nil {
		return nil
	}
	o := portal.Options{Config: cfg, Quotas: g.QuotaUsage, Publish: g.bus.Publish, CSRF: g.portalCSRF}
	if pol := cfg.Policies[cfg.Portal.Policy]; pol != nil {
		o.Authenticate = auth.stage(pol.Authenticate).Wrap
	}
	if dir := auth.consumers.dir; dir != nil {
		o.Keys = portalKeys{dir: dir, hasher: store.NewHasher(cfg.Store.HashKey.Value())}
	}
	p, err := portal.New(o)
	if err != nil {
		return err
	}
	s.portal, s.portalPath, s.portalMetrics = p, cfg.Portal.Path, g.metrics.Route(portalRoute)
	return nil
}

// portalRoute is the portal's route label in metrics and the access log:
// parentheses keep it apart from any configured route's name.
const portalRoute = "(portal)"

// servePortal reports whether the request is the portal's, serving it.
func (s *Snapshot) servePortal(w http.ResponseWriter, r *http.Request) bool {
	if s.portal == nil {
		return false
	}
	p := r.URL.Path
	if p != s.portalPath && (len(p) <= len(s.portalPath) || p[len(s.portalPath)] != '/' || p[:len(s.portalPath)] != s.portalPath) {
		return false
	}
	s.portal.ServeHTTP(w, r)
	return true
}
