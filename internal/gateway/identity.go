package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/apikey"
	"github.com/rampart-gw/rampart/internal/authn/introspect"
	"github.com/rampart-gw/rampart/internal/authn/jwks"
	"github.com/rampart-gw/rampart/internal/authn/jwt"
	"github.com/rampart-gw/rampart/internal/authn/mtls"
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
	dir    *store.Directory // nil without a store
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

// compileIdentity builds the snapshot's authenticators. Key sets and the
// store directory are shared with the previous snapshot when their
// definitions did not change, so a reload neither refetches keys nor
// rereads the store.
func (g *Gateway) compileIdentity(cfg *config.Config, s *Snapshot) (*compiledIdentity, error) {
	c := &compiledIdentity{byName: map[string]authn.Authenticator{}, signer: g.signer, count: g.metrics.Authn,
		consumers: &consumerView{config: map[string]authn.Consumer{}}}
	for _, cn := range cfg.Consumers {
		c.consumers.config[cn.ID] = authn.Consumer{ID: cn.ID, Roles: cn.Roles, Scopes: cn.Scopes, Attributes: cn.Attributes, Disabled: cn.Disabled}
	}
	var hasher store.Hasher
	if st := cfg.Store; st != nil {
		// The DSN's value joins the key (the config holds only its
		// reference): a changed secret reopens the store on reload.
		dsn := sha256.Sum256([]byte(st.DSN.Value()))
		k := keyOf("store", struct {
			S   *config.Store
			DSN []byte
		}{st, dsn[:]}, cfg.BaseDir)
		dir, err := g.stores.acquire(k, func() (*store.Directory, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := OpenDriver(ctx, cfg)
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
		s.releases = append(s.releases, func() { g.stores.release(k) })
		c.consumers.dir = dir
		hasher = store.NewHasher(st.HashKey.Value())
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Authenticators)) {
		a := cfg.Authenticators[name]
		switch a.Type {
		case "jwt", "oidc":
			k := keyOf(name, struct {
				Type, Issuer, URI       string
				Refresh, Stale, Timeout config.Duration
			}{
				a.Type, a.Issuer, a.JWKSURI, a.JWKSRefresh, a.JWKSStaleFor, a.Timeout}, "")
			set, err := g.keySets.acquire(k, func() (*jwks.Set, error) {
				set := jwks.New(jwks.Options{Name: name, JWKSURI: a.JWKSURI, Issuer: a.Issuer, Discover: a.Type == "oidc",
					Refresh: a.JWKSRefresh.D(), StaleFor: a.JWKSStaleFor.D(), Timeout: a.Timeout.D(), Log: g.log,
					Client: &http.Client{Timeout: a.Timeout.D()},
					Count:  func(result string) { g.metrics.IdPFetch(name, result) }})
				set.Start()
				return set, nil
			})
			if err != nil {
				return nil, err
			}
			s.releases = append(s.releases, func() { g.keySets.release(k) })
			c.byName[name] = jwt.New(jwt.Options{Name: name, Method: a.Type, Issuer: a.Issuer, Audiences: a.Audiences,
				Algorithms: a.Algorithms, ClockSkew: a.ClockSkew.D(), ConsumerClaim: a.ConsumerClaim,
				MaxTokenBytes: int(a.MaxTokenBytes), CacheTTL: a.CacheTTL.D(), Keys: set, Proofs: g.dpop, DPoPRequired: a.DPoPRequired,
				RequireLowS: a.RequireLowS})
		case "oauth2_introspection":
			secret := a.ClientSecret.Value()
			sum := sha256.Sum256([]byte(secret))
			// The secret's hash joins the key so that a changed secret file
			// takes effect on reload.
			k := keyOf(name, struct {
				A      *config.Authenticator
				Secret []byte
			}{a, sum[:]}, cfg.BaseDir)
			ia, err := g.introspectors.acquire(k, func() (*introspect.Authenticator, error) {
				return introspect.New(introspect.Options{Name: name, Endpoint: a.Endpoint, ClientID: a.ClientID, ClientSecret: secret,
					ClientAuth: a.ClientAuth, Issuer: a.Issuer, Audiences: a.Audiences, ClockSkew: a.ClockSkew.D(),
					ConsumerClaim: a.ConsumerClaim, MaxTokenBytes: int(a.MaxTokenBytes), CacheTTL: a.CacheTTL.D(),
					NegativeTTL: a.NegativeCacheTTL.D(), Timeout: a.Timeout.D(), Log: g.log, Proofs: g.dpop, DPoPRequired: a.DPoPRequired,
					Count: func(result string) { g.metrics.IdPFetch(name, result) }}), nil
			})
			if err != nil {
				return nil, err
			}
			s.releases = append(s.releases, func() { g.introspectors.release(k) })
			c.byName[name] = ia
		case "api_key":
			kind, from, _ := config.ParseKeyLocation(a.In)
			c.byName[name] = apikey.New(name, kind, from, c.consumers.dir, hasher)
		case "mtls":
			crl := a.CRLFile
			if crl != "" {
				crl = cfg.Path(crl)
			}
			m, err := mtls.New(name, a.ConsumerFrom, crl)
			if err != nil {
				return nil, cfg.ErrorAt("authenticators."+name+".crl_file", err)
			}
			c.byName[name] = m
		default:
			return nil, fmt.Errorf("authenticator %s: type %s is not available in this build", name, a.Type)
		}
	}
	return c, nil
}

// OpenDriver opens the configured store's driver; for postgres that
// includes applying pending schema migrations.
func OpenDriver(ctx context.Context, cfg *config.Config) (store.Driver, error) {
	switch cfg.Store.Driver {
	case "embedded":
		return store.OpenEmbedded(cfg.Path(cfg.Store.Path))
	case "postgres":
		return store.OpenPostgres(ctx, cfg.Store.DSN.Value())
	}
	return nil, fmt.Errorf("store driver %s is not available in this build", cfg.Store.Driver)
}
