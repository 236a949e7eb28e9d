package config

import "time"

// The ACME CA when the config names none (Let's Encrypt's production
// directory), and the part of a certificate's lifetime left when it is
// renewed.
const (
	DefaultACMECA           = "https://acme-v02.api.letsencrypt.org/directory"
	DefaultACMERenewalRatio = 0.33
)

// Defaults, named so docs and tests can refer to them.
const (
	DefaultListen              = ":8080"
	DefaultAdminListen         = "127.0.0.1:9901"
	DefaultMaxHeaderBytes      = 32 << 10
	DefaultReadHeaderTimeout   = 5 * time.Second
	DefaultIdleTimeout         = 60 * time.Second
	DefaultBodyTimeout         = 60 * time.Second
	DefaultMaxBodyBytes        = 1 << 20
	DefaultMaxConnectionsPerIP = 256
	DefaultShutdownTimeout     = 30 * time.Second
	DefaultConnectTimeout      = 2 * time.Second
	DefaultResponseHeader      = 15 * time.Second
	DefaultMaxIdleConns        = 256
	// DefaultMaxResponseHeaderBytes bounds an upstream response's head.
	DefaultMaxResponseHeaderBytes = 64 << 10
	DefaultHSTSMaxAge             = 365 * 24 * time.Hour
	DefaultCertificateWarnBefore  = 14 * 24 * time.Hour
	DefaultStoreSync              = 2 * time.Second
	DefaultAssertionTTL           = 60 * time.Second
	DefaultKeyRotation            = 24 * time.Hour
	DefaultTokenBytes             = 8 << 10
	// DefaultCacheMaxBytes is the response cache's memory.
	DefaultCacheMaxBytes = 64 << 20
	// Threat-intelligence feeds: how often a URL and a file are checked,
	// and the bounds past which a new version is refused.
	DefaultFeedRefreshURL  = time.Hour
	DefaultFeedRefreshFile = time.Minute
	// DefaultCrowdSecRefresh is how often a CrowdSec decisions stream is
	// pulled: the pace of its own bouncers.
	DefaultCrowdSecRefresh = 10 * time.Second
	DefaultFeedTimeout     = 30 * time.Second
	DefaultFeedMaxBytes    = 64 << 20
	DefaultFeedMaxEntries  = 5_000_000
)

func setDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

func setInt(i *int, v int) {
	if *i == 0 {
		*i = v
	}
}

func setInt64(i *int64, v int64) {
	if *i == 0 {
		*i = v
	}
}

func setFloat(f *float64, v float64) {
	if *f == 0 {
		*f = v
	}
}

func applyDefaults(c *Config) {
	s := &c.Server
	if len(s.Listen) == 0 && s.TLS == nil {
		s.Listen = []string{DefaultListen}
	}
	l := &s.Limits
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	setDur(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&l.IdleTimeout, DefaultIdleTimeout)
	setDur(&l.BodyTimeout, DefaultBodyTimeout)
	setInt(&l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	setDur(&s.ShutdownTimeout, DefaultShutdownTimeout)
	if a := c.AccessReview; a != nil {
		setDur(&a.UnusedAfter, 90*24*time.Hour)
		setDur(&a.LapseWithin, 24*time.Hour)
	}
	if ti := c.ThreatIntel; ti != nil {
		for _, f := range ti.Feeds {
			if f == nil {
				continue
			}
			if f.Format == "" && f.CrowdSec == nil {
				f.Format = "plain"
			}
			if f.File != "" {
				setDur(&f.Refresh, DefaultFeedRefreshFile)
			}
			if cs := f.CrowdSec; cs != nil {
				setDur(&f.Refresh, DefaultCrowdSecRefresh)
				if len(cs.DecisionTypes) == 0 {
					cs.DecisionTypes = []string{"ban"}
				}
			}
			setDur(&f.Refresh, DefaultFeedRefreshURL)
			setDur(&f.Timeout, DefaultFeedTimeout)
			if f.MaxBytes == 0 {
				f.MaxBytes = DefaultFeedMaxBytes
			}
			setInt(&f.MaxEntries, DefaultFeedMaxEntries)
		}
	}
	if t := s.TLS; t != nil {
		if t.MinVersion == "" {
			t.MinVersion = "1.2"
		}
		if t.ClientAuth.Mode == "" {
			t.ClientAuth.Mode = "none"
		}
		setDur(&t.ExpiryWarning, DefaultCertificateWarnBefore)
		if a := t.ACME; a != nil {
			if a.CA == "" {
				a.CA = DefaultACMECA
			}
			if len(a.Challenges) == 0 {
				a.Challenges = []string{"tls-alpn-01"}
				if len(s.Listen) > 0 {
					a.Challenges = []string{"http-01", "tls-alpn-01"}
				}
			}
			if a.RenewalRatio == 0 {
				a.RenewalRatio = DefaultACMERenewalRatio
			}
		}
		if t.HSTS == nil {
			t.HSTS = &HSTS{}
		}
		setDur(&t.HSTS.MaxAge, DefaultHSTSMaxAge)
	}
	if c.Server.StripResponseHeaders == nil {
		c.Server.StripResponseHeaders = []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Generator", "X-Runtime"}
	}
	if c.State.Settings != nil {
		c.State.Settings.Defaults()
	}
	for _, p := range c.Policies {
		if p == nil {
			continue
		}
		if p.Response != nil {
			for _, t := range p.Response.Transforms {
				t.Defaults()
			}
		}
		if p.Authorize != nil && p.Authorize.External != nil {
			setDur(&p.Authorize.External.Timeout, DefaultExternalTimeout)
		}
		if q := p.Quota; q != nil {
			if q.Key == "" {
				q.Key = "consumer"
			}
			if q.TimeZone == "" {
				q.TimeZone = "UTC"
			}
		}
		if c := p.Concurrency; c != nil {
			if c.Key == "" {
				c.Key = "consumer"
				if len(p.Authenticate) == 0 {
					c.Key = "ip"
				}
			}
			setDur(&c.QueueTimeout, time.Second)
		}
		if v := p.Validate; v != nil && v.JSON != nil {
			j := v.JSON
			setInt(&j.MaxDepth, 32)
			setInt(&j.MaxKeys, 1000)
			setInt(&j.MaxArray, 10000)
			if j.MaxString == 0 {
				j.MaxString = 64 << 10
			}
		}
		if v := p.Validate; v != nil && v.GraphQL != nil {
			g := v.GraphQL
			setInt(&g.MaxDepth, 10)
			setInt(&g.MaxAliases, 30)
			setInt(&g.MaxFields, 500)
			setInt(&g.MaxCost, 10000)
			setInt(&g.MaxBatch, 5)
			setInt(&g.MaxTokens, 15000)
			setInt(&g.MaxDirectives, 50)
			if g.Get == "" {
				g.Get = "queries"
			}
		}
		if v := p.Validate; v != nil && v.XML != nil {
			x := v.XML
			setInt(&x.MaxDepth, 32)
			setInt(&x.MaxElements, 10000)
			setInt(&x.MaxAttributes, 32)
			if x.MaxText == 0 {
				x.MaxText = 64 << 10
			}
		}
		if g := p.Geo; g != nil && g.Unknown == "" {
			g.Unknown = "allow"
			if len(g.Allow) > 0 {
				g.Unknown = "deny"
			}
		}
		if wf := p.WAF; wf != nil {
			setInt(&wf.Paranoia, 1)
			setInt(&wf.InboundThreshold, 5)
			if wf.ResponseBodyLimit == 0 {
				wf.ResponseBodyLimit = 512 << 10
			}
			if wf.Mode == "" {
				wf.Mode = "block"
			}
		}
		if c := p.CORS; c != nil {
			if len(c.AllowMethods) == 0 {
				c.AllowMethods = []string{"GET", "HEAD", "POST"}
			}
			if len(c.AllowHeaders) == 0 {
				c.AllowHeaders = []string{"Accept", "Accept-Language", "Content-Language", "Content-Type"}
			}
			setDur(&c.MaxAge, 10*time.Minute)
		}
		if b := p.Bots; b != nil && b.Anomaly != nil {
			a := b.Anomaly
			if a.Factor == 0 {
				a.Factor = 10
			}
			if a.MinRate.N == 0 {
				a.MinRate = Rate{N: 5, Per: time.Second}
			}
			if a.Action == "" {
				a.Action = "flag"
			}
		}
		if b := p.Bots; b != nil && b.Challenge != nil {
			setInt(&b.Challenge.Difficulty, 16)
			setDur(&b.Challenge.TTL, 30*time.Minute)
		}
		if gr := p.Graduated; gr != nil {
			graduatedDefaults(gr)
		}
		if c := p.Correlate; c != nil {
			if cs := c.CredentialStuffing; cs != nil {
				if cs.Key == "" {
					cs.Key = "ip"
				}
				setDur(&cs.Window, 10*time.Minute)
				setInt64(&cs.Failures, 20)
				setInt64(&cs.Distinct, 5)
			}
			if e := c.Enumeration; e != nil {
				setDur(&e.Window, 5*time.Minute)
				setInt64(&e.Refusals, 30)
				setInt64(&e.Distinct, 20)
			}
		}
		for _, rl := range p.RateLimits {
			if rl == nil {
				continue
			}
			if rl.Burst == 0 {
				rl.Burst = 1
			}
			if rl.Scope == "" {
				rl.Scope = "policy"
			}
			if rl.Mode == "" {
				rl.Mode = "enforce"
			}
		}
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Portal != nil {
		if c.Portal.Path == "" {
			c.Portal.Path = DefaultPortalPath
		}
		if c.Portal.Title == "" {
			c.Portal.Title = "API portal"
		}
	}
	if c.AccessLog.Path == "" {
		c.AccessLog.Path = "stdout"
	}
	for _, s := range c.Events.Sinks {
		if s.Settings != nil {
			s.Settings.Defaults()
		}
	}
	if st := c.Store; st != nil {
		setDur(&st.SyncInterval, DefaultStoreSync)
		if st.Settings != nil {
			st.Settings.Defaults()
		}
	}
	setDur(&c.Identity.AssertionTTL, DefaultAssertionTTL)
	setDur(&c.Identity.KeyRotation, DefaultKeyRotation)
	if c.Identity.Issuer == "" {
		c.Identity.Issuer = "rampart"
	}
	for _, a := range c.Authenticators {
		if a != nil && a.Settings != nil {
			a.Settings.Defaults()
		}
	}
	for _, u := range c.Upstreams {
		for i := range u.Targets {
			setInt(&u.Targets[i].Weight, 1)
		}
		if ls := u.LoadShedding; ls != nil {
			setInt(&ls.MinLimit, 4)
			setInt(&ls.MaxLimit, max(1000, ls.MinLimit))
			setInt(&ls.InitialLimit, min(max(32, ls.MinLimit), ls.MaxLimit))
			if ls.Tolerance == 0 {
				ls.Tolerance = 2
			}
			setDur(&ls.Window, time.Minute)
		}
		if u.Balancer == "" {
			u.Balancer = "round_robin"
		}
		if u.Balancer == "consistent_hash" && u.HashKey == "" {
			u.HashKey = "client_ip"
		}
		setDur(&u.Timeouts.Connect, DefaultConnectTimeout)
		if u.Protocol != "grpc" {
			// a gRPC server answers a unary call's headers with its
			// reply: the call's deadline bounds the wait instead
			setDur(&u.Timeouts.ResponseHeader, DefaultResponseHeader)
		}
		setInt(&u.MaxIdleConns, DefaultMaxIdleConns)
		if u.MaxResponseHeaderBytes == 0 {
			u.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
		}
		if a := u.HealthCheck.Active; a != nil {
			setDur(&a.Interval, 5*time.Second)
			setDur(&a.Timeout, 2*time.Second)
			setInt(&a.HealthyThreshold, 2)
			setInt(&a.UnhealthyThreshold, 3)
		}
		// Passive ejection is on for every upstream: a target nobody
		// can connect to is ejected without any configuration. Errors
		// and 5xx count only where the operator asks (passive: {}).
		if u.HealthCheck.Passive == nil {
			u.HealthCheck.Passive = &PassiveCheck{On: []string{"connect_failure"}}
		} else if len(u.HealthCheck.Passive.On) == 0 {
			u.HealthCheck.Passive.On = []string{"error", "5xx"}
		}
		if p := u.HealthCheck.Passive; p != nil {
			setInt(&p.ConsecutiveFailures, 5)
			setDur(&p.EjectFor, 10*time.Second)
			setDur(&p.MaxEjectFor, 5*time.Minute)
		}
		r := &u.Retries
		if r.Attempts == nil {
			one := 1
			r.Attempts = &one
		}
		if r.On == nil {
			r.On = []string{"connect_failure"}
		}
		if r.Budget == nil {
			r.Budget = &RetryBudget{}
		}
		setFloat(&r.Budget.Ratio, 0.2)
		setInt(&r.Budget.MinPerSecond, 5)
		if b := u.CircuitBreaker; b != nil {
			setFloat(&b.FailureRatio, 0.5)
			setInt(&b.MinRequests, 20)
			setDur(&b.Window, 10*time.Second)
			setDur(&b.OpenFor, 30*time.Second)
			setInt(&b.HalfOpenRequests, 1)
		}
		if u.TLS != nil && u.TLS.MinVersion == "" {
			u.TLS.MinVersion = "1.2"
		}
	}
}

// DefaultClockSkew is the leeway for token times when clock_skew is unset.
const DefaultClockSkew = 30 * time.Second

// DefaultBanPeriods returns the lengths of a key's first, second and later bans.
func DefaultBanPeriods() []Duration {
	return []Duration{Duration(time.Minute), Duration(10 * time.Minute), Duration(time.Hour)}
}

func graduatedDefaults(gr *Graduated) {
	if gr.Key == "" {
		gr.Key = "ip"
	}
	if len(gr.Offences) == 0 {
		gr.Offences = []string{"rate-limited"}
	}
	setDur(&gr.Window, time.Minute)
	if gr.Throttle != nil {
		setDur(&gr.Throttle.Delay, time.Second)
	}
	if b := gr.Ban; b != nil {
		if len(b.Periods) == 0 {
			b.Periods = DefaultBanPeriods()
		}
		setDur(&b.Forget, 24*time.Hour)
	}
}
