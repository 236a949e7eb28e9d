package gateway

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/authz"
	"github.com/rampart-gw/rampart/internal/bodyguard"
	"github.com/rampart-gw/rampart/internal/bots"
	"github.com/rampart-gw/rampart/internal/cache"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/correlate"
	"github.com/rampart-gw/rampart/internal/cors"
	"github.com/rampart-gw/rampart/internal/fieldcrypt"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/graphqlop"
	"github.com/rampart-gw/rampart/internal/grpcguard"
	"github.com/rampart-gw/rampart/internal/grpcwire"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/identity"
	"github.com/rampart-gw/rampart/internal/ipfilter"
	"github.com/rampart-gw/rampart/internal/lifecycle"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pii"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/respfilter"
	"github.com/rampart-gw/rampart/internal/schema"
	"github.com/rampart-gw/rampart/internal/secheaders"
	"github.com/rampart-gw/rampart/internal/shed"
	"github.com/rampart-gw/rampart/internal/soapop"
	"github.com/rampart-gw/rampart/internal/threatintel"
	"github.com/rampart-gw/rampart/internal/transcode"
	"github.com/rampart-gw/rampart/internal/transform"
	"github.com/rampart-gw/rampart/internal/waf"
)

// routeStages returns a route's stages 4-15 of the request path
// (DESIGN.md §1), in order. Stages 1-3 run before routing (Snapshot.ServeHTTP)
// and stage 16, the proxy, is the final handler. A later capability adds
// its stage here: one package, one line.
func routeStages(cfg *config.Config, r *config.Route, auth *compiledIdentity, access map[string]*authz.Stage, deps *stageDeps) ([]Stage, error) {
	pol := cfg.Policies[r.Policy] // nil for the built-in public policy
	var stages []Stage
	// 3 a deprecated route: its lifecycle headers on every answer, and
	// from its sunset on a 410 before any other work
	if r.Deprecation != nil {
		stages = append(stages, lifecycle.New(r.Name, r.Deprecation, lifecycle.Options{Count: deps.metrics.Deprecated(r.Name)}))
	}
	// 4 IP and geo allow/deny          (threats)
	if pol != nil && (pol.IP != nil || pol.Geo != nil) {
		stages = append(stages, addressFilter(pol, deps))
	}
	// 5 CORS, preflight answered here   (threats)
	if pol != nil && pol.CORS != nil {
		stages = append(stages, cors.New(pol.CORS))
	}
	// 6 bans and bot checks             (traffic)
	graduated, err := deps.graduated(r.Policy, pol)
	if err != nil {
		return nil, fmt.Errorf("route %s: graduated: %w", r.Name, err)
	}
	if graduated != nil && graduated.G.PreAuth() {
		stages = append(stages, graduated) // wraps the bot checks: their refusals can be offences
	}
	if pol != nil && pol.Correlate != nil {
		stages = append(stages, correlateStage(r.Policy, pol.Correlate, graduated, deps))
	}
	if pol != nil && len(pol.ThreatIntel) > 0 {
		stages = append(stages, threatStage(cfg, r.Policy, pol, deps))
	}
	if pol != nil && pol.Bots != nil {
		o := deps.bots
		o.Count = deps.metrics.Bots(r.Policy)
		bs, err := bots.New(r.Policy, pol.Bots, o)
		if err != nil {
			return nil, cfg.ErrorAt("policies."+r.Policy+".bots", err)
		}
		stages = append(stages, bs)
	}
	// 7 pre-auth rate limit per IP      (traffic)
	pre, post, err := rateLimits(pol, r, deps)
	if err != nil {
		return nil, err
	}
	if pre != nil {
		stages = append(stages, pre)
	}
	// 8 body guards: size, then content type and structure (threats);
	// on a gRPC route the call's guard: each message bounded, the
	// deadline capped
	if r.GRPC != nil {
		stages = append(stages, grpcguard.New(r.GRPC))
	} else {
		stages = append(stages, &guard.BodyLimit{Max: bodyLimit(cfg, pol)})
	}
	if pol != nil {
		if bg := bodyguard.New(pol.Validate); bg != nil {
			if g := pol.Validate.GraphQL; g != nil && g.Persisted != nil {
				if bg.Persisted, err = bodyguard.LoadPersisted(cfg.Path(g.Persisted.Manifest)); err != nil {
					return nil, cfg.ErrorAt("policies."+r.Policy+".validate.graphql.persisted.manifest", err)
				}
			}
			stages = append(stages, bg)
		}
	}
	// 9 authenticate                    (identity)
	if pol != nil && len(pol.Authenticate) > 0 {
		stages = append(stages, auth.stage(pol.Authenticate))
	}
	// 10 authorize                      (access)
	if a, ok := access[r.Policy]; ok {
		stages = append(stages, a)
	}
	// 11 consumer limits, quotas        (traffic); a graduated response
	// keyed by identity runs first, so a banned consumer costs no budget
	if graduated != nil && !graduated.G.PreAuth() {
		stages = append(stages, graduated)
	}
	if post != nil {
		stages = append(stages, post)
	}
	if pol != nil && pol.Quota != nil {
		q, err := deps.quota(r.Policy, pol.Quota)
		if err != nil {
			return nil, fmt.Errorf("route %s: quota: %w", r.Name, err)
		}
		stages = append(stages, q)
	}
	if pol != nil && pol.Concurrency != nil {
		c, err := ratelimit.NewConcurrencyStage(r.Policy, pol.Concurrency, deps.gates, deps.seed, deps.metrics.Concurrency(r.Policy))
		if err != nil {
			return nil, fmt.Errorf("route %s: concurrency: %w", r.Name, err)
		}
		stages = append(stages, c)
	}
	// 12 schema validation              (threats)
	if doc := deps.documents[r.Policy]; doc != nil {
		sv, err := schema.New(doc, schema.Options{Strict: pol.Validate.Strict,
			Responses: pol.Validate.Responses == "detect", Count: deps.metrics.SchemaResponses(r.Policy)})
		if err != nil {
			return nil, fmt.Errorf("route %s: openapi: %w", r.Name, err)
		}
		stages = append(stages, sv)
	}
	// 13 WAF                            (threats)
	if ws := deps.wafs[r.Policy]; ws != nil {
		stages = append(stages, ws.ForRoute(wafRouteVars(r, pol)))
	}
	// 14 cache lookup; it stores (18) what the stages inside it, the
	// response filters among them, made of the upstream's answer
	if r.Cache != nil {
		stages = append(stages, routeCache(r, pol, deps))
	}
	// adaptive load shedding: last before the upstream, so its limit
	// counts only requests the upstream will see
	if l := deps.shedders[r.Upstream]; l != nil {
		st := &shed.Stage{L: l, Upstream: r.Upstream, Count: deps.metrics.Shed(r.Upstream)}
		if pol != nil && pol.Priority != "" {
			st.Priority, _ = shed.ParsePriority(pol.Priority)
			st.PolicySet = true
		}
		stages = append(stages, st)
	}
	// 17 response filters: fields removed and values masked in the
	// upstream's body (innermost, so the WAF's and the schema's response
	// checks see what the client will), leaky headers removed, security
	// headers added
	if pol != nil && pol.Response != nil {
		rf, err := responseFilter(cfg, r.Policy, pol.Response, deps)
		if err != nil {
			return nil, fmt.Errorf("route %s: response: %w", r.Name, err)
		}
		stages = append(stages, rf)
	}
	// 17 GraphQL field suggestions cut from the upstream's errors
	if pol != nil && pol.Validate != nil && pol.Validate.GraphQL != nil && !pol.Validate.GraphQL.Suggestions {
		stages = append(stages, graphqlSuggestions(r.Policy))
	}
	stages = append(stages, secheaders.New(cfg.Server.StripResponseHeaders, securityHeaders(pol)))
	// 15 and 17 the route's transform: it edits the request after every
	// check above has seen it as sent, and the upstream's response before
	// the response filters (outside it) mask what it made
	if r.Transform != nil {
		tr, err := transform.New(cfg, r, transform.Options{Route: r.Name, Count: deps.metrics.Transform(r.Name)})
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Name, err)
		}
		stages = append(stages, tr)
	}
	// 15 request transform: fields encrypted (after every check has seen
	// them in clear), identity to upstream
	if pol != nil && pol.Request != nil {
		ks, err := fieldKeyset(cfg, pol.Request.Keyset, deps.tokenAEAD)
		if err != nil {
			return nil, fmt.Errorf("route %s: request: %w", r.Name, err)
		}
		fields, err := fieldpath.Compile(pol.Request.EncryptFields)
		if err != nil {
			return nil, fmt.Errorf("route %s: request: %w", r.Name, err)
		}
		stages = append(stages, &fieldcrypt.RequestStage{Fields: fields, Keys: ks, Count: deps.metrics.FieldEncryption(r.Policy)})
	}
	stages = append(stages, &identity.Stage{Signer: auth.signer, Issuer: cfg.Identity.Issuer, Audience: r.Upstream,
		TTL: cfg.Identity.AssertionTTL.D(), ForwardAuthorization: r.ForwardAuthorization})
	// 16 a transcoded route's REST request becomes a gRPC call, last
	// before the proxy, and its reply JSON
	if t := r.Transcode; t != nil {
		set, err := transcode.LoadFile(cfg.Path(t.DescriptorSet), t.Services)
		if err != nil {
			return nil, cfg.ErrorAt(fmt.Sprintf("routes[%d].transcode.descriptor_set", slices.Index(cfg.Routes, r)), err)
		}
		stages = append(stages, transcode.New(set, int(t.MaxReplyBytes)))
	}
	// 16 a route that serves one GraphQL operation: the request becomes
	// the operation, the reply its data
	if r.GraphQLOperation != nil {
		op, err := graphqlop.New(cfg, r)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Name, err)
		}
		stages = append(stages, op)
	}
	// 16 a route that serves one SOAP operation: the request fills the
	// envelope, the reply's result is made JSON
	if r.SOAPOperation != nil {
		op, err := soapop.New(cfg, r)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Name, err)
		}
		stages = append(stages, op)
	}
	for _, s := range stages {
		if s == nil {
			return nil, fmt.Errorf("route %s: internal error: nil stage", r.Name)
		}
	}
	return stages, nil
}

// routeCache is a route's response cache stage (14 and 18). Its entries
// carry a generation, the hash of the route and its policy as
// configured, so that a reload that changes either never serves what the
// old definition stored.
func routeCache(r *config.Route, pol *config.Policy, deps *stageDeps) Stage {
	def, _ := json.Marshal(struct {
		R *config.Route
		P *config.Policy
	}{r, pol})
	sum := sha256.Sum256(def)
	c := r.Cache
	keyHeaders := slices.Clone(c.KeyHeaders)
	if r.Transform != nil {
		// what the transform passes upstream from the request's headers
		// shapes the answer, so it is part of the key
		keyHeaders = append(keyHeaders, transform.KeyHeaders(r.Transform)...)
	}
	return cache.New(deps.responses, cache.Options{Route: r.Name, Generation: hex.EncodeToString(sum[:8]), TTL: c.TTL.D(), Shared: c.Shared,
		KeyHeaders: keyHeaders, StaleWhileRevalidate: c.StaleWhileRevalidate.D(), StaleIfError: c.StaleIfError.D(), MaxBody: int64(c.MaxBody), Count: deps.metrics.Cache(r.Name)})
}

// correlateStage is a policy's attack-pattern detectors (stage 6), whose
// detections are offences for its graduated response.
func correlateStage(name string, c *config.Correlate, graduated *ratelimit.AbuseStage, deps *stageDeps) *correlate.Stage {
	st := &correlate.Stage{Policy: name, Evidence: deps.evidence, Seed: deps.seed, Shared: deps.sharedState, Count: deps.metrics.Correlation(name)}
	if s := c.CredentialStuffing; s != nil {
		st.Stuffing = &correlate.Detector{Window: s.Window.D(), Events: s.Failures, Distinct: s.Distinct, Key: s.Key}
		if s.Key == "asn" && deps.asn != nil {
			st.ASN = deps.asn.ASN
		}
	}
	if e := c.Enumeration; e != nil {
		st.Enumeration = &correlate.Detector{Window: e.Window.D(), Events: e.Refusals, Distinct: e.Distinct}
	}
	if graduated != nil {
		st.Offend = graduated.OffendAs
	}
	return st
}

// addressFilter is a policy's IP and country rules (stage 4).
func addressFilter(pol *config.Policy, deps *stageDeps) Stage {
	var geo ipfilter.Countries
	if deps.geo != nil {
		geo = deps.geo
	}
	return ipfilter.New(pol.IP, pol.Geo, geo)
}

// responseFilter builds a policy's response body filters through the
// registry of response transforms.
func responseFilter(cfg *config.Config, policy string, rc *config.Response, deps *stageDeps) (*respfilter.Stage, error) {
	env := &respfilter.Env{Config: cfg,
		Detector: func(name string) (*pii.Detector, error) { return detector(cfg, name) },
		Keyset: func(name string) (respfilter.Opener, error) {
			ks, err := fieldKeyset(cfg, name, deps.tokenAEAD)
			if err != nil {
				return nil, err
			}
			return ks, nil
		}}
	return deps.transforms.New(env, rc, respfilter.Options{Policy: policy,
		Count: deps.metrics.ResponseFilter(policy), CountMasked: deps.metrics.Masked(policy)})
}

func securityHeaders(pol *config.Policy) *config.SecurityHeaders {
	if pol == nil {
		return nil
	}
	return pol.SecurityHeaders
}

func bodyLimit(cfg *config.Config, pol *config.Policy) int64 {
	limit := int64(cfg.Server.Limits.MaxBodyBytes)
	if pol != nil && pol.Validate != nil && pol.Validate.MaxBodyBytes > 0 {
		limit = min(limit, int64(pol.Validate.MaxBodyBytes))
	}
	return limit
}

// stageDeps is what stages are built over: the gateway's long-lived
// state (limit counters, bans, adaptive limits, the country database)
// and its metrics.
type stageDeps struct {
	tokenAEAD func(uri string) (cipher.AEAD, error) // keys in a PKCS#11 token
	documents map[string]*openapi3.T                // by policy
	store     ratelimit.Store
	gates     *ratelimit.Gates
	seed      maphash.Seed
	quotas    ratelimit.QuotaCounter
	abuse     ratelimit.Abuse
	shedders  map[string]*shed.Limiter // by upstream
	bots      bots.Options
	// metrics hands each stage the counters of its policy or upstream.
	metrics     *observe.Metrics
	quotaStages map[string]*ratelimit.QuotaStage // by policy, filled by quota
	geo         *ipfilter.DB                     // the country database; nil without geoip
	asn         *ipfilter.DB                     // the ASN database; nil without geoip.asn_database
	feeds       map[string]*threatintel.Feed     // threat-intelligence feeds, by name
	evidence    ratelimit.Evidence               // attack correlation's counts
	sharedState bool                             // the state driver is shared by the nodes
	wafs        map[string]*waf.Stage            // by policy
	responses   *cache.Store                     // the response cache
	transforms  respfilter.Transforms            // the registry of response transforms
}

// quota returns the policy's quota stage, one per policy: the admin API
// reads consumers' usage through it.
func (l *stageDeps) quota(name string, q *config.Quota) (*ratelimit.QuotaStage, error) {
	if s, ok := l.quotaStages[name]; ok {
		return s, nil
	}
	s, err := ratelimit.NewQuotaStage(name, q, l.quotas, l.seed, l.metrics.Quota(name))
	if err == nil {
		l.quotaStages[name] = s
	}
	return s, err
}

// graduated returns the policy's graduated-response stage, or nil.
func (l *stageDeps) graduated(name string, pol *config.Policy) (*ratelimit.AbuseStage, error) {
	if pol == nil || pol.Graduated == nil {
		return nil, nil
	}
	g, err := ratelimit.CompileGraduated(name, pol.Graduated)
	if err != nil {
		return nil, err
	}
	return ratelimit.NewAbuseStage(g, l.abuse, l.seed, l.metrics.Abuse(name)), nil
}

// rateLimits returns the route's stage 7 (limits keyed by what is known
// before authentication: ip, route, headers) and stage 11 (the others).
func rateLimits(pol *config.Policy, r *config.Route, l *stageDeps) (pre, post *ratelimit.Stage, err error) {
	if pol == nil || len(pol.RateLimits) == 0 {
		return nil, nil, nil
	}
	var before, after []*ratelimit.Rule
	for i, rl := range pol.RateLimits {
		route := ""
		if rl.Scope == "route" {
			route = r.Name
		}
		rule, err := ratelimit.Compile(r.Policy, i, rl, route)
		if err != nil {
			return nil, nil, fmt.Errorf("route %s: rate_limits[%d]: %w", r.Name, i, err)
		}
		if rule.PreAuth() && len(pol.Authenticate) > 0 {
			before = append(before, rule)
		} else {
			after = append(after, rule)
		}
	}
	count := l.metrics.RateLimit(r.Policy)
	if len(before) > 0 {
		pre = ratelimit.NewStage(before, l.store, l.seed, count)
	}
	if len(after) > 0 {
		post = ratelimit.NewStage(after, l.store, l.seed, count)
	}
	return pre, post, nil
}

// wafRouteVars are what a route tells the CRS: its methods and the body
// media types its policy accepts (waf.RouteVarsOf).
func wafRouteVars(r *config.Route, pol *config.Policy) waf.RouteVars {
	var types []string
	if pol != nil && pol.Validate != nil {
		types = pol.Validate.ContentTypes
	}
	if r.GRPC != nil {
		// a call's messages are a binary stream the rules cannot read,
		// and reading it whole would stall every streaming call: the
		// WAF sees the call's path and metadata
		v := waf.RouteVarsOf([]string{http.MethodPost}, grpcwire.ContentTypes)
		v.Streaming = true
		return v
	}
	return waf.RouteVarsOf(r.Match.Methods, types)
}

// graphqlSuggestions cuts "Did you mean ...?" from the error messages of a
// GraphQL upstream's JSON responses (validate.graphql.suggestions off).
// Error responses are small: a response over the hold limit passes as it
// is rather than being withheld.
func graphqlSuggestions(policy string) *respfilter.Stage {
	paths, _ := fieldpath.Compile([]string{bodyguard.SuggestionsPath}) // a constant pattern
	return respfilter.New(respfilter.Options{Policy: policy, Rewrite: paths, RewriteValue: bodyguard.ScrubSuggestions, PassOversize: true})
}
