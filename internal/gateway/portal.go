package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/portal"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/transcode"
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
// one. Self-service calls go through portal.policy's address filter,
// graduated response, rate limits and authenticators, as that policy's
// routes do, so guessing credentials there is as costly as anywhere; its
// quota, authorization and body checks are the routes' business and do
// not apply.
func (g *Gateway) buildPortal(cfg *config.Config, s *Snapshot, auth *compiledIdentity, deps *stageDeps) error {
	if cfg.Portal == nil {
		return nil
	}
	o := portal.Options{Config: cfg, Authenticators: g.opts.Authenticators, Rules: s.rules, Documents: deps.documents, Quotas: g.QuotaUsage, Publish: g.bus.Publish, CSRF: g.portalCSRF}
	for _, r := range cfg.Routes {
		if t := r.Transcode; t != nil {
			set, err := transcode.LoadFile(cfg.Path(t.DescriptorSet), t.Services)
			if err != nil {
				return err // the route's stage could not be built either
			}
			if o.RouteDocuments == nil {
				o.RouteDocuments = map[string]*openapi3.T{}
			}
			o.RouteDocuments[r.Name] = set.OpenAPI(strings.Join(set.Services(), ", "))
		}
	}
	if name := cfg.Portal.Policy; cfg.Policies[name] != nil {
		stages, err := portalStages(cfg, name, auth, deps)
		if err != nil {
			return err
		}
		o.Authenticate = func(h http.Handler) http.Handler { return Chain(h, stages...) }
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

// portalStages are the stages of policy name that self-service calls
// pass: stages 4, 6, 7, 8 (64 KiB), 9 and 11 without the quota.
func portalStages(cfg *config.Config, name string, auth *compiledIdentity, deps *stageDeps) ([]Stage, error) {
	pol := cfg.Policies[name]
	r := &config.Route{Name: portalRoute, Policy: name}
	var stages []Stage
	if pol.IP != nil || pol.Geo != nil {
		stages = append(stages, addressFilter(pol, deps))
	}
	graduated, err := deps.graduated(name, pol)
	if err != nil {
		return nil, err
	}
	if graduated != nil && graduated.G.PreAuth() {
		stages = append(stages, graduated)
	}
	pre, post, err := rateLimits(pol, r, deps)
	if err != nil {
		return nil, err
	}
	if pre != nil {
		stages = append(stages, pre)
	}
	stages = append(stages, &guard.BodyLimit{Max: 64 << 10}, auth.stage(pol.Authenticate))
	if graduated != nil && !graduated.G.PreAuth() {
		stages = append(stages, graduated)
	}
	if post != nil {
		stages = append(stages, post)
	}
	return stages, nil
}

// portalRoute is the portal's route label in metrics and the access log:
// parentheses keep it apart from any configured route's name.
const portalRoute = "(portal)"
