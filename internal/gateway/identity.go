package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/identity"
	"github.com/rampart-gw/rampart/internal/store"
)

// compiledIdentity is a snapshot's authenticators and consumer records.
type compiledIdentity struct {
	byName    map[string]authn.Authenticator
	consumers *consumerView
	signer    *identity.Signer
	count     func(authenticator, result string)
}

// stage returns the authenticate stage for a policy's list.
func (c *compiledIdentity) stage(names []string) *authn.Stage {
	list := make([]authn.Authenticator, len(names))
	for i, n := range names {
		list[i] = c.byName[n]
	}
	return &authn.Stage{List: list, Consumers: c.consumers, Count: c.count}
}

// consumerView layers the config's consumers over the store's: on an id
// in both, the config wins.
type consumerView struct {
	config map[string]authn.Consumer
	dir    *store.Directory        // nil without a store
	roles  map[string]*config.Role // the roles the config defines
}

func (v *consumerView) Consumer(id string) (authn.Consumer, bool) {
	if c, ok := v.config[id]; ok {
		return c, true
	}
	if v.dir == nil {
		return authn.Consumer{}, false
	}
	sc, ok := v.dir.Consumer(id)
	if !ok {
		return authn.Consumer{}, false
	}
	return authn.Consumer{ID: sc.ID, Roles: sc.Roles, Scopes: sc.Scopes, Attributes: sc.Attributes, Disabled: sc.Disabled}, true
}

// GrantedRoles implements authn.GrantedRoles: the roles the store's
// just-in-time grants give the consumer at now, those the config still
// defines (a grant of a role since removed gives nothing).
func (v *consumerView) GrantedRoles(consumer string, now time.Time) []string {
	if v.dir == nil {
		return nil
	}
	roles := v.dir.GrantedRoles(consumer, now)
	if len(roles) == 0 {
		return nil
	}
	return slices.DeleteFunc(roles, func(r string) bool { return v.roles[r] == nil })
}

// OpenStore opens the store cfg names, by its driver (Options.Stores).
func (g *Gateway) OpenStore(ctx context.Context, cfg *config.Config) (store.Driver, error) {
	return g.opts.Stores.Open(ctx, cfg)
}

// sharedResource is a resource authenticators share across snapshots,
// with how to close it.
type sharedResource struct {
	v     any
	close func(any)
}

// compileIdentity builds the snapshot's authenticators, each by its kind
// (Options.Authenticators). Key sets and the
// store directory are shared with the previous snapshot when their
// definitions did not change, so a reload neither refetches keys nor
// rereads the store.
func (g *Gateway) compileIdentity(cfg *config.Config, s *Snapshot) (*compiledIdentity, error) {
	c := &compiledIdentity{byName: map[string]authn.Authenticator{}, signer: g.signer, count: g.metrics.Authn,
		consumers: &consumerView{config: map[string]authn.Consumer{}, roles: cfg.Roles}}
	for _, cn := range cfg.Consumers {
		c.consumers.config[cn.ID] = authn.Consumer{ID: cn.ID, Roles: cn.Roles, Scopes: cn.Scopes, Attributes: cn.Attributes, Disabled: cn.Disabled}
	}
	var hasher store.Hasher
	if st := cfg.Store; st != nil {
		// The secrets' values join the key (the config holds only their
		// references): a changed DSN reopens the store on reload.
		k := keyOf("store", struct {
			S       *config.Store
			Secrets []byte
		}{st, secretValues(cfg, "store.")}, cfg.BaseDir)
		dir, err := g.res.stores.acquire(k, func() (*store.Directory, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := g.opts.Stores.Open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			dir, err := store.OpenDirectory(ctx, d, st.SyncInterval.D(), g.log)
			if err != nil {
				_ = d.Close()
			}
			return dir, err
		})
		if err != nil {
			return nil, cfg.ErrorAt("store", fmt.Errorf("cannot open the %s store: %w", st.Driver, err))
		}
		s.releases = append(s.releases, func() { g.res.stores.release(k) })
		c.consumers.dir, s.directory = dir, dir
		hasher = store.NewHasher(st.HashKey.Value())
	}
	env := &authn.BuildEnv{Config: cfg, Log: g.log, Proofs: g.dpop, Hasher: hasher,
		CountFetch: g.metrics.IdPFetch,
		Share: func(name string, key any, open func() (any, error), closeFn func(any)) (any, error) {
			k := keyOf("authn:"+name, key, cfg.BaseDir)
			r, err := g.res.authnShared.acquire(k, func() (sharedResource, error) {
				v, err := open()
				return sharedResource{v: v, close: closeFn}, err
			})
			if err != nil {
				return nil, err
			}
			s.releases = append(s.releases, func() { g.res.authnShared.release(k) })
			return r.v, nil
		}}
	if c.consumers.dir != nil {
		env.Keys = c.consumers.dir
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Authenticators)) {
		a := cfg.Authenticators[name]
		kind, ok := g.opts.Authenticators.Lookup(a.Type)
		if !ok {
			return nil, cfg.ErrorAt("authenticators."+name+".type", fmt.Errorf("type %s is not available in this build", a.Type))
		}
		au, err := kind.Build(env, name, a)
		if err != nil {
			return nil, err
		}
		c.byName[name] = au
	}
	return c, nil
}
