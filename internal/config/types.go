package config

// The config vocabulary of DESIGN.md §3. Struct tags:
//
//	yaml:"name[,required]"  the key, and whether it must be present
//	enum:"a|b|c"            the allowed values of a string
//	doc:"..."               the description shown by `rampart schema`
//
// A field named Pos (type Pos) is set to the position of the value's node.

// Config is one decoded, validated config file.
type Config struct {
	Version   int                  `yaml:"version,required" doc:"Config format version; always 1."`
	Server    Server               `yaml:"server" doc:"Client-facing listeners and their limits."`
	Admin     Admin                `yaml:"admin" doc:"The admin API listener."`
	AccessLog AccessLog            `yaml:"access_log" doc:"One JSON line per request."`
	Events    Events               `yaml:"events" doc:"Where security events go."`
	Upstreams map[string]*Upstream `yaml:"upstreams" doc:"Named pools of backend targets."`
	Policies  map[string]*Policy   `yaml:"policies" doc:"Named bundles of checks that routes refer to. 'public' is built in."`
	Routes    []*Route             `yaml:"routes" doc:"Routes, matched most specific first."`

	// File is the path the config was read from; BaseDir resolves
	// relative paths in it.
	File    string `yaml:"-"`
	BaseDir string `yaml:"-"`

	positions map[string]Pos
}

// Server configures the client-facing side.
type Server struct {
	Listen          []string `yaml:"listen" doc:"Cleartext listen addresses (HTTP/1.1 and h2c). Default [\":8080\"] when no TLS listener is set."`
	TLS             *TLS     `yaml:"tls" doc:"TLS listeners (HTTP/1.1 and h2 via ALPN)."`
	Limits          Limits   `yaml:"limits"`
	TrustedProxies  []string `yaml:"trusted_proxies" doc:"CIDRs or addresses whose X-Forwarded-For is believed."`
	ShutdownTimeout Duration `yaml:"shutdown_timeout" doc:"How long SIGTERM waits for in-flight requests. Default 30s."`
}

// TLS configures the TLS listeners.
type TLS struct {
	Listen       []string      `yaml:"listen,required"`
	Certificates []Certificate `yaml:"certificates,required" doc:"Certificate files, reloaded when they change."`
	MinVersion   string        `yaml:"min_version" enum:"1.2|1.3" hint:"TLS 1.0 and 1.1 are insecure and never accepted" doc:"Lowest TLS version accepted. Default 1.2."`
	ClientAuth   ClientAuth    `yaml:"client_auth"`
	HSTS         *HSTS         `yaml:"hsts" doc:"Strict-Transport-Security on TLS responses; on by default."`
	Pos          Pos           `yaml:"-"`
}

// Certificate is one certificate chain and its key.
type Certificate struct {
	CertFile string `yaml:"cert_file,required"`
	KeyFile  string `yaml:"key_file,required"`
	Pos      Pos    `yaml:"-"`
}

// ClientAuth configures TLS client certificates.
type ClientAuth struct {
	Mode   string `yaml:"mode" enum:"none|request|require" doc:"Default none."`
	CAFile string `yaml:"ca_file" doc:"CA bundle that client certificates must chain to."`
}

// HSTS configures the Strict-Transport-Security header.
type HSTS struct {
	Disabled          bool     `yaml:"disabled"`
	MaxAge            Duration `yaml:"max_age" doc:"Default 8760h (one year)."`
	IncludeSubdomains bool     `yaml:"include_subdomains"`
	Preload           bool     `yaml:"preload"`
}

// Limits bound what one client can make the gateway hold.
type Limits struct {
	MaxHeaderBytes      Size     `yaml:"max_header_bytes" doc:"Request line plus headers. Default 32KiB; larger gets a 431 problem."`
	ReadHeaderTimeout   Duration `yaml:"read_header_timeout" doc:"Time allowed to send the headers (slowloris guard). Default 5s."`
	IdleTimeout         Duration `yaml:"idle_timeout" doc:"Keep-alive idle time. Default 60s."`
	MaxBodyBytes        Size     `yaml:"max_body_bytes" doc:"Request body limit, enforced while streaming. Default 1MiB."`
	BodyTimeout         Duration `yaml:"body_timeout" doc:"Time allowed to send a request body (slow-body guard); 408 after. Default 60s."`
	MaxConnectionsPerIP int      `yaml:"max_connections_per_ip" doc:"Open connections one client address may hold. Default 256; 0 keeps the default."`
}

// Admin configures the admin API.
type Admin struct {
	Listen   string  `yaml:"listen" doc:"Default 127.0.0.1:9901. A non-loopback address requires a token."`
	Token    *Secret `yaml:"token" doc:"Bearer token for every admin call, as env:NAME or file:PATH."`
	Disabled bool    `yaml:"disabled"`
}

// AccessLog configures the access log.
type AccessLog struct {
	Path     string   `yaml:"path" doc:"stdout (default), stderr, or a file path."`
	Disabled bool     `yaml:"disabled"`
	Headers  []string `yaml:"headers" doc:"Extra request headers to log; credentials are always redacted."`
}

// Events configures security event sinks.
type Events struct {
	Sinks []EventSink `yaml:"sinks" doc:"Default: one jsonl sink on stderr."`
}

// EventSink is one subscriber of the security event bus.
type EventSink struct {
	Type string `yaml:"type,required" enum:"jsonl"`
	Path string `yaml:"path,required" doc:"stdout, stderr, or a file path."`
}

// Upstream is a pool of targets.
type Upstream struct {
	Targets        []Target        `yaml:"targets,required"`
	Balancer       string          `yaml:"balancer" enum:"round_robin|least_requests|consistent_hash|random" doc:"Default round_robin."`
	HashKey        string          `yaml:"hash_key" doc:"consistent_hash key: header:NAME, cookie:NAME or client_ip (default)."`
	HealthCheck    HealthCheck     `yaml:"health_check"`
	Timeouts       Timeouts        `yaml:"timeouts"`
	Retries        Retries         `yaml:"retries"`
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker"`
	TLS            *UpstreamTLS    `yaml:"tls"`
	MaxIdleConns   int             `yaml:"max_idle_conns" doc:"Idle keep-alive connections kept per target. Default 256."`
	Pos            Pos             `yaml:"-"`
}

// Target is one backend address.
type Target struct {
	URL    string `yaml:"url,required" doc:"http:// or https:// with host and port; no path."`
	Weight int    `yaml:"weight" doc:"Relative share of traffic. Default 1."`
}

// HealthCheck holds active and passive checks.
type HealthCheck struct {
	Active  *ActiveCheck  `yaml:"active"`
	Passive *PassiveCheck `yaml:"passive"`
}

// ActiveCheck probes each target on an interval.
type ActiveCheck struct {
	Path               string   `yaml:"path,required"`
	Interval           Duration `yaml:"interval" doc:"Default 5s."`
	Timeout            Duration `yaml:"timeout" doc:"Default 2s."`
	HealthyThreshold   int      `yaml:"healthy_threshold" doc:"Consecutive successes to mark healthy. Default 2."`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold" doc:"Consecutive failures to mark unhealthy. Default 3."`
	ExpectStatus       []int    `yaml:"expect_status" doc:"Statuses counted healthy. Default 200-399."`
}

// PassiveCheck ejects targets that fail live traffic.
type PassiveCheck struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures" doc:"Failures in a row that eject a target. Default 5."`
	EjectFor            Duration `yaml:"eject_for" doc:"First ejection period; doubles on repeat. Default 10s."`
	MaxEjectFor         Duration `yaml:"max_eject_for" doc:"Cap of the ejection period. Default 5m."`
}

// Timeouts bound each phase of an upstream exchange.
type Timeouts struct {
	Connect        Duration `yaml:"connect" doc:"Default 2s."`
	ResponseHeader Duration `yaml:"response_header" doc:"Default 15s."`
	Request        Duration `yaml:"request" doc:"Whole exchange, body included; 0 (default) means none beyond the others."`
}

// Retries configures retrying a failed attempt on another target.
type Retries struct {
	Attempts      *int         `yaml:"attempts" doc:"Extra attempts after the first, on another target when there is one. Default 1; 0 disables retries."`
	On            []string     `yaml:"on" doc:"connect_failure, reset, timeout, or a status 500-599. Default [connect_failure]."`
	NonIdempotent bool         `yaml:"non_idempotent" doc:"Also retry POST and PATCH. Off by default."`
	Budget        *RetryBudget `yaml:"budget"`
}

// RetryBudget caps retries so they cannot multiply an outage.
type RetryBudget struct {
	Ratio        float64 `yaml:"ratio" doc:"Retries allowed per request over a 10s window. Default 0.2."`
	MinPerSecond int     `yaml:"min_per_second" doc:"Retries always allowed per second. Default 5."`
}

// CircuitBreaker opens per target when too many requests fail.
type CircuitBreaker struct {
	FailureRatio     float64  `yaml:"failure_ratio" doc:"Failing share that opens the breaker. Default 0.5."`
	MinRequests      int      `yaml:"min_requests" doc:"Requests in the window before the ratio counts. Default 20."`
	Window           Duration `yaml:"window" doc:"Default 10s."`
	OpenFor          Duration `yaml:"open_for" doc:"Time open before probing. Default 30s."`
	HalfOpenRequests int      `yaml:"half_open_requests" doc:"Probe requests while half-open. Default 1."`
}

// UpstreamTLS configures TLS to https targets.
type UpstreamTLS struct {
	CAFile     string `yaml:"ca_file" doc:"CA bundle; default the system roots."`
	CertFile   string `yaml:"cert_file" doc:"Client certificate for upstream mTLS."`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name" doc:"SNI and the name verified; default the target host."`
	MinVersion string `yaml:"min_version" enum:"1.2|1.3" hint:"TLS 1.0 and 1.1 are insecure and never accepted" doc:"Default 1.2."`
}

// Policy is a named bundle of checks. Later stages add their sections here.
type Policy struct {
	Validate *Validate `yaml:"validate"`
	Pos      Pos       `yaml:"-"`
}

// Validate holds request body guards.
type Validate struct {
	MaxBodyBytes Size `yaml:"max_body_bytes" doc:"Body limit for routes of this policy; at most server.limits.max_body_bytes."`
}

// Route maps matching requests to an upstream under a policy.
type Route struct {
	Name     string   `yaml:"name,required"`
	Match    Match    `yaml:"match,required"`
	Upstream string   `yaml:"upstream,required"`
	Policy   string   `yaml:"policy,required" doc:"A policy name, or 'public' for anonymous access."`
	Rewrite  *Rewrite `yaml:"rewrite"`
	Pos      Pos      `yaml:"-"`
}

// Match selects requests.
type Match struct {
	Hosts   []string          `yaml:"hosts" doc:"Exact names or *.example.com; empty matches any host."`
	Paths   []string          `yaml:"paths,required" doc:"Exact, {param} for one segment, /** for any suffix."`
	Methods []string          `yaml:"methods" doc:"Empty allows every method."`
	Headers map[string]string `yaml:"headers" doc:"Headers that must be present with exactly these values."`
}

// Rewrite changes the path sent upstream.
type Rewrite struct {
	StripPrefix string `yaml:"strip_prefix"`
	AddPrefix   string `yaml:"add_prefix"`
	Path        string `yaml:"path" doc:"A template such as /orders/{id}; params come from the matched pattern."`
}
