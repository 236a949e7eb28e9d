package config

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// The config vocabulary of DESIGN.md §3. Struct tags:
//
//	yaml:"name[,required]" json:"name[,omitempty"  the key, and whether it must be present
//	enum:"a|b|c"            the allowed values of a string
//	doc:"..."               the description shown by `rampart schema`
//
// A field named Pos (type Pos) is set to the position of the value's node.

// Config is one decoded, validated config file.
type Config struct {
	Version        int                       `yaml:"version,required" json:"version,omitempty" doc:"Config format version; always 1."`
	Server         Server                    `yaml:"server" json:"server,omitempty" doc:"Client-facing listeners and their limits."`
	Admin          Admin                     `yaml:"admin" json:"admin,omitempty" doc:"The admin API listener."`
	AccessLog      AccessLog                 `yaml:"access_log" json:"access_log,omitempty" doc:"One JSON line per request."`
	Events         Events                    `yaml:"events" json:"events,omitempty" doc:"Where security events go."`
	Tracing        *Tracing                  `yaml:"tracing" json:"tracing,omitempty" doc:"OpenTelemetry traces of the request path, exported over OTLP."`
	PKCS11         *PKCS11                   `yaml:"pkcs11" json:"pkcs11,omitempty" doc:"A PKCS#11 module (an HSM's, SoftHSM2) whose tokens hold private keys that settings name by pkcs11: URIs (RFC 7512) instead of files: the listeners' and upstream clients' TLS keys, the identity assertion's and the audit trail's signing keys, field-encryption keys. The keys never leave the token."`
	Baselines      *Baselines                `yaml:"baselines" json:"baselines,omitempty" doc:"Each route's usual error rate and latency, learnt; an interval far beyond them is a route.error_spike or route.latency_spike event."`
	AccessReview   *AccessReview             `yaml:"access_review" json:"access_review,omitempty" doc:"The thresholds of access reviews (rampart access review, the admin API, the dashboard), and the automatic revocation of API keys nobody uses."`
	Trail          *Trail                    `yaml:"trail" json:"trail,omitempty" doc:"The tamper-evident audit trail of admin actions and security events, hash-chained in the store with signed checkpoints."`
	Store          *Store                    `yaml:"store" json:"store,omitempty" doc:"Where consumers and API keys live. Default: no store (consumers from this file only)."`
	State          State                     `yaml:"state" json:"state,omitempty" doc:"Where rate-limit counters live: this node's memory, or a Redis shared by every node."`
	GeoIP          *GeoIP                    `yaml:"geoip" json:"geoip,omitempty" doc:"The country database policies' geo rules look addresses up in."`
	ThreatIntel    *ThreatIntel              `yaml:"threat_intel" json:"threat_intel,omitempty" doc:"Threat-intelligence feeds: lists of attacking addresses and TLS fingerprints, read from files or HTTPS URLs and refreshed in the background. Policies' threat_intel rules act on them."`
	Identity       Identity                  `yaml:"identity" json:"identity,omitempty" doc:"The signed identity assertion sent to upstreams."`
	Upstreams      map[string]*Upstream      `yaml:"upstreams" json:"upstreams,omitempty" doc:"Named pools of backend targets."`
	Authenticators map[string]*Authenticator `yaml:"authenticators" json:"authenticators,omitempty" doc:"Named authenticators that policies list under authenticate."`
	Consumers      []*Consumer               `yaml:"consumers" json:"consumers,omitempty" doc:"Consumers known from this file; on an id also in the store, this file wins."`
	Roles          map[string]*Role          `yaml:"roles" json:"roles,omitempty" doc:"Named roles: what a consumer holding one may call. Policies require them under authorize.roles."`
	Policies       map[string]*Policy        `yaml:"policies" json:"policies,omitempty" doc:"Named bundles of checks that routes refer to. 'public' is built in."`
	Keysets        map[string]*Keyset        `yaml:"keysets" json:"keysets,omitempty" doc:"Named sets of AES-256 keys for field-level encryption: a primary key for new ciphertexts, older ones kept to decrypt."`
	Detectors      map[string]*Detector      `yaml:"detectors" json:"detectors,omitempty" doc:"Your own kinds of sensitive value, as patterns, for policies' response.mask beside the built-in detectors."`
	Routes         []*Route                  `yaml:"routes" json:"routes,omitempty" doc:"Routes, matched most specific first."`
	Problems       Problems                  `yaml:"problems" json:"problems,omitempty" doc:"How the gateway's problem+json answers name their types."`
	Portal         *Portal                   `yaml:"portal" json:"portal,omitempty" doc:"The developer portal: API reference, try-it console, problem pages and consumer self-service. Off unless set."`

	// File is the path the config was read from; BaseDir resolves
	// relative paths in it.
	File    string `yaml:"-" json:"file"`
	BaseDir string `yaml:"-" json:"-"`
	// Unchecked lists, for a config loaded offline, the secrets and files
	// that were not there to check ("path: secret env:NAME").
	Unchecked []string `yaml:"-" json:"-"`
	// Offline is set on a config loaded offline (LoadOptions.Offline).
	Offline bool `yaml:"-" json:"-"`
	// files are the files the config names as inputs (certificates, keys,
	// CRLs, secret files, specs, databases), resolved: see Files.
	files []string
	pem   []PEMFile // see PEMFiles
	// secrets are the secrets it names (see Secrets).
	secrets []SecretAt

	positions map[string]Pos
	scalars   map[string]scalarLayout // how multi-character scalars sit in the file, for ExprPos
}

// Server configures the client-facing side.
type Server struct {
	Listen               []string    `yaml:"listen" json:"listen,omitempty" doc:"Cleartext listen addresses (HTTP/1.1 and h2c). Default [\":8080\"] when no TLS listener is set."`
	TLS                  *TLS        `yaml:"tls" json:"tls,omitempty" doc:"TLS listeners (HTTP/1.1 and h2 via ALPN)."`
	Limits               Limits      `yaml:"limits" json:"limits,omitempty"`
	HTTPSRedirect        bool        `yaml:"https_redirect" json:"https_redirect,omitempty" doc:"Cleartext listeners answer every request with a 308 to the same URL on the first TLS listener."`
	TrustedProxies       []string    `yaml:"trusted_proxies" json:"trusted_proxies,omitempty" doc:"CIDRs or addresses whose X-Forwarded-For is believed."`
	DrainDelay           Duration    `yaml:"drain_delay" json:"drain_delay,omitempty" doc:"After SIGTERM, keep serving this long with /readyz at 503 and Connection: close, so load balancers stop sending, before closing the listeners. Default 0."`
	ShutdownTimeout      Duration    `yaml:"shutdown_timeout" json:"shutdown_timeout,omitempty" doc:"How long SIGTERM waits for in-flight requests. Default 30s."`
	Headers              Headers     `yaml:"headers" json:"headers,omitempty"`
	Cache                ServerCache `yaml:"cache" json:"cache,omitempty"`
	HTTP1Engine          string      `yaml:"http1_engine" json:"http1_engine,omitempty" enum:"stdlib|rampart" doc:"What serves HTTP/1.1 on the gateway's listeners: stdlib (default), net/http behind the wire guard (each request head checked, then parsed again by net/http); rampart, the gateway's own HTTP/1.1 server, which reads each head once with the wire guard's rules (experimental; HTTP/2 stays on x/net/http2 either way). Restart-only."`
	StripResponseHeaders []string    `yaml:"strip_response_headers" json:"strip_response_headers,omitempty" doc:"Upstream response headers removed because they tell attackers what runs behind the gateway. Default [Server, X-Powered-By, X-AspNet-Version, X-AspNetMvc-Version, X-Generator, X-Runtime]; [] keeps them all."`
}

// ServerCache bounds the response cache the routes share.
type ServerCache struct {
	MaxBytes Size   `yaml:"max_bytes" json:"max_bytes,omitempty" doc:"Memory for cached responses, least recently used dropped first. Default 64MiB. Read at start."`
	Store    string `yaml:"store" json:"store,omitempty" enum:"state|memory" doc:"Where cached responses live: state (default) shares them through the state driver when it is shared (redis: every node answers from what any node fetched, and a purge reaches every node), memory keeps each node's own. Read at start."`
}

// Headers are the server-wide rules for request header names.
type Headers struct {
	Underscores string `yaml:"underscores" json:"underscores,omitempty" enum:"drop|refuse|pass" doc:"A request header whose name holds an underscore (X_Api_Version): drop it (default, as nginx), refuse the request (400), or pass it upstream. A name that folds onto a header the gateway owns or checks (X_Forwarded_For, X-Rampart_Consumer, Content_Length) is always refused: CGI, PHP, Rack and WSGI servers read it as that header."`
}

// TLS configures the TLS listeners.
type TLS struct {
	Listen        []string      `yaml:"listen,required" json:"listen,omitempty"`
	Certificates  []Certificate `yaml:"certificates" json:"certificates,omitempty" doc:"Certificate files, reloaded when they change. Either these or acme."`
	ACME          *ACME         `yaml:"acme" json:"acme,omitempty" doc:"Certificates obtained and renewed from an ACME CA (RFC 8555) instead of files."`
	ExpiryWarning Duration      `yaml:"expiry_warning" json:"expiry_warning,omitempty" doc:"A tls.certificate_expiring event, once a day, while a listener certificate (from a file or the CA) expires within this. Default 336h (14 days)."`
	MinVersion    string        `yaml:"min_version" json:"min_version,omitempty" enum:"1.2|1.3" hint:"TLS 1.0 and 1.1 are insecure and never accepted" doc:"Lowest TLS version accepted. Default 1.2."`
	ClientAuth    ClientAuth    `yaml:"client_auth" json:"client_auth,omitempty"`
	HSTS          *HSTS         `yaml:"hsts" json:"hsts,omitempty" doc:"Strict-Transport-Security on TLS responses; on by default."`
	Pos           Pos           `yaml:"-" json:"-"`
}

// ACME manages the listener's certificates with an ACME CA: obtained at
// start, renewed ahead of expiry, kept in the store (shared by the nodes
// that share it, one node obtaining under a lease).
type ACME struct {
	Domains      []string `yaml:"domains,required" json:"domains,omitempty" doc:"The host names to obtain certificates for (no wildcards: those need DNS-01)."`
	Email        string   `yaml:"email" json:"email,omitempty" doc:"The account's contact, where the CA writes about expiring or revoked certificates."`
	CA           string   `yaml:"ca" json:"ca,omitempty" doc:"The CA's ACME directory URL. Default Let's Encrypt's production directory."`
	CARoot       string   `yaml:"ca_root" json:"ca_root,omitempty" doc:"A PEM file of the roots that the CA's directory's own TLS certificate chains to, for a private CA (step-ca, Pebble); default the system's roots."`
	AcceptTerms  bool     `yaml:"accept_terms" json:"accept_terms,omitempty" doc:"You accept the CA's terms of service (required: the CA refuses an account without it)."`
	Challenges   []string `yaml:"challenges" json:"challenges,omitempty" doc:"Challenge types offered: http-01 (answered on server.listen, which must be reachable on port 80), tls-alpn-01 (answered on server.tls.listen, port 443). Default both."`
	RenewalRatio float64  `yaml:"renewal_ratio" json:"renewal_ratio,omitempty" doc:"Renew when this fraction of a certificate's lifetime is left. Default 0.33 (a 90-day certificate 30 days before expiry)."`
}

// Certificate is one certificate chain and its key.
type Certificate struct {
	CertFile string `yaml:"cert_file,required" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,required" json:"key_file,omitempty"`
	Pos      Pos    `yaml:"-" json:"-"`
}

// ClientAuth configures TLS client certificates.
type ClientAuth struct {
	Mode   string `yaml:"mode" json:"mode,omitempty" enum:"none|request|require" doc:"Default none."`
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty" doc:"CA bundle that client certificates must chain to."`
}

// HSTS configures the Strict-Transport-Security header.
type HSTS struct {
	Disabled          bool     `yaml:"disabled" json:"disabled,omitempty"`
	MaxAge            Duration `yaml:"max_age" json:"max_age,omitempty" doc:"Default 8760h (one year)."`
	IncludeSubdomains bool     `yaml:"include_subdomains" json:"include_subdomains,omitempty"`
	Preload           bool     `yaml:"preload" json:"preload,omitempty"`
}

// Limits bound what one client can make the gateway hold.
type Limits struct {
	MaxHeaderBytes      Size     `yaml:"max_header_bytes" json:"max_header_bytes,omitempty" doc:"Request line plus headers. Default 32KiB; larger gets a 431 problem."`
	ReadHeaderTimeout   Duration `yaml:"read_header_timeout" json:"read_header_timeout,omitempty" doc:"Time allowed to send the headers (slowloris guard). Default 5s."`
	IdleTimeout         Duration `yaml:"idle_timeout" json:"idle_timeout,omitempty" doc:"Keep-alive idle time. Default 60s."`
	MaxBodyBytes        Size     `yaml:"max_body_bytes" json:"max_body_bytes,omitempty" doc:"Request body limit, enforced while streaming. Default 1MiB."`
	BodyTimeout         Duration `yaml:"body_timeout" json:"body_timeout,omitempty" doc:"Time allowed to send a request body (slow-body guard); 408 after. Default 60s."`
	MaxConnectionsPerIP int      `yaml:"max_connections_per_ip" json:"max_connections_per_ip,omitempty" doc:"Open connections one client address may hold. Default 256; 0 keeps the default."`
}

// Admin configures the admin API.
type Admin struct {
	Listen   string  `yaml:"listen" json:"listen,omitempty" doc:"Default 127.0.0.1:9901. A non-loopback address requires a token."`
	Token    *Secret `yaml:"token" json:"token,omitempty" doc:"Bearer token for every admin call, as env:NAME or file:PATH."`
	Disabled bool    `yaml:"disabled" json:"disabled,omitempty"`
	// Dashboard is the security dashboard served at /dashboard.
	Dashboard Dashboard `yaml:"dashboard" json:"dashboard,omitempty" doc:"The security dashboard at /dashboard on the admin listener, behind the admin token."`
}

// Dashboard configures the security dashboard of the admin listener.
type Dashboard struct {
	Disabled bool `yaml:"disabled" json:"disabled,omitempty" doc:"Turn the dashboard off; the admin API stays."`
}

// Portal configures the developer portal.
type Portal struct {
	Path   string `yaml:"path" json:"path,omitempty" doc:"Where the portal is served, on the gateway's listeners and on listen. Default /portal; no route may be served under it."`
	Listen string `yaml:"listen" json:"listen,omitempty" doc:"An extra cleartext listener for the portal. It serves the gateway's routes beside the portal, so try-it requests stay on the portal's origin. Default: none."`
	Title  string `yaml:"title" json:"title,omitempty" doc:"The portal's name in page titles. Default API portal."`
	Policy string `yaml:"policy" json:"policy,omitempty" doc:"The policy whose authenticators identify consumers for self-service (their keys, quota usage, key rotation). Default: no self-service."`
	Pos    Pos    `yaml:"-" json:"-"`
}

// Problems configures the problem+json answers.
type Problems struct {
	TypeBase string `yaml:"type_base" json:"type_base,omitempty" doc:"The prefix of every problem type URI, the slug appended: your documentation (https://developer.example.com/problems/), or a path. Default: with the portal on, its problem pages (/portal/problems/); else tag:rampart-gw.github.io,2026:problems/, which points no client at any host."`
}

// ProblemTypeBase is the prefix of problem type URIs: problems.type_base,
// else the portal's problem pages (a path, so it dereferences on whatever
// host the client reached), else "" for problem.DefaultBase.
func (c *Config) ProblemTypeBase() string {
	switch {
	case c.Problems.TypeBase != "":
		return c.Problems.TypeBase
	case c.Portal != nil:
		path := c.Portal.Path
		if path == "" {
			path = DefaultPortalPath
		}
		return path + "/problems/"
	}
	return ""
}

// DefaultPortalPath is where the portal is served unless portal.path says.
const DefaultPortalPath = "/portal"

// AccessLog configures the access log.
type AccessLog struct {
	Path     string   `yaml:"path" json:"path,omitempty" doc:"stdout (default), stderr, or a file path."`
	Disabled bool     `yaml:"disabled" json:"disabled,omitempty"`
	Headers  []string `yaml:"headers" json:"headers,omitempty" doc:"Extra request headers to log; credentials are always redacted."`
}

// Events configures security event sinks.
type Events struct {
	Sinks []EventSink `yaml:"sinks" json:"sinks,omitempty" doc:"Default: one jsonl sink on stderr."`
}

// EventSink is one subscriber of the security event bus.
type EventSink struct {
	Type     string   `yaml:"type,required" json:"type,omitempty" doc:"The sink type; each has its own keys. jsonl: one JSON object a line to a file or stream; syslog: RFC 5424 over TCP or TLS; http: batches POSTed to a webhook or Splunk HEC; crowdsec: alerts (signals) about attacking addresses to a CrowdSec Local API."`
	Format   string   `yaml:"format" json:"format,omitempty" enum:"rampart|ecs|ocsf" doc:"The events' shape: rampart (default, the gateway's own), ecs (Elastic Common Schema), ocsf (OCSF: Authentication, HTTP Activity, Detection Finding, API Activity)."`
	Settings Settings `yaml:",inline" types:"sinks,type" json:"-"`
	Pos      Pos      `yaml:"-" json:"-"`
}

// MarshalJSON writes the type and format beside the settings' keys, as
// the file has them.
func (s EventSink) MarshalJSON() ([]byte, error) {
	type own EventSink
	return withSettings(own(s), s.Settings)
}

// Tracing configures OpenTelemetry tracing.
type Tracing struct {
	Exporter    string  `yaml:"exporter,required" json:"exporter,omitempty" enum:"otlp_grpc|otlp_http" doc:"OTLP over gRPC (a collector's port 4317) or over HTTP (port 4318)."`
	Endpoint    string  `yaml:"endpoint,required" json:"endpoint,omitempty" doc:"otlp_grpc: host:port; otlp_http: a URL, e.g. https://collector:4318 (/v1/traces is added when the URL has no path)."`
	Insecure    bool    `yaml:"insecure" json:"insecure,omitempty" doc:"otlp_grpc: plaintext instead of TLS (a collector on the same host). otlp_http follows the URL's scheme."`
	SampleRatio float64 `yaml:"sample_ratio" json:"sample_ratio,omitempty" doc:"Share of new traces recorded, 0-1; a client's sampled traceparent is always followed. Default 1."`
	ServiceName string  `yaml:"service_name" json:"service_name,omitempty" doc:"service.name of the spans. Default rampart."`
	Pos         Pos     `yaml:"-" json:"-"`
}

// Trail configures the audit trail.
type Trail struct {
	SigningKey         *Secret  `yaml:"signing_key" json:"signing_key,omitempty" doc:"The Ed25519 key that signs checkpoints: a PEM private key (openssl genpkey -algorithm ed25519) or 32 random bytes in base64, as env:NAME or file:PATH. Give signing_key or token_key."`
	TokenKey           string   `yaml:"token_key" json:"token_key,omitempty" doc:"An ECDSA P-256 key in a PKCS#11 token (pkcs11:token=...;object=...) that signs checkpoints in place of signing_key: the key never leaves the token. Needs the pkcs11 section; restart-only."`
	CheckpointEvery    int      `yaml:"checkpoint_every" json:"checkpoint_every,omitempty" doc:"A signed checkpoint after this many entries. Default 100."`
	CheckpointInterval Duration `yaml:"checkpoint_interval" json:"checkpoint_interval,omitempty" doc:"A signed checkpoint at least this often while entries arrive. Default 1m."`
	MinSeverity        string   `yaml:"min_severity" json:"min_severity,omitempty" enum:"info|low|medium|high" doc:"Security events at or above this severity go into the trail; admin actions and config changes always do. Default medium."`
	Pos                Pos      `yaml:"-" json:"-"`
}

// Upstream is a pool of targets.
type Upstream struct {
	Targets []Target `yaml:"targets,required" json:"targets,omitempty"`
	// Protocol is how the gateway speaks to the targets.
	Protocol       string          `yaml:"protocol" json:"protocol,omitempty" enum:"http1|h2|h2c|grpc" doc:"http1: HTTP/1.1 (the default for http:// targets; https:// targets default to HTTP/2 when the target offers it by ALPN, else HTTP/1.1). h2: HTTP/2 over TLS only (https:// targets). h2c: cleartext HTTP/2 with prior knowledge (http:// targets). grpc: HTTP/2 (h2c for http://, h2 for https://) with trailers, and active health checks by the gRPC health checking protocol; routes with grpc: need it (or h2/h2c)."`
	Balancer       string          `yaml:"balancer" json:"balancer,omitempty" enum:"round_robin|least_requests|consistent_hash|random" doc:"Default round_robin."`
	HashKey        string          `yaml:"hash_key" json:"hash_key,omitempty" doc:"consistent_hash key: header:NAME, cookie:NAME or client_ip (default)."`
	HealthCheck    HealthCheck     `yaml:"health_check" json:"health_check,omitempty"`
	Timeouts       Timeouts        `yaml:"timeouts" json:"timeouts,omitempty"`
	Retries        Retries         `yaml:"retries" json:"retries,omitempty"`
	CircuitBreaker *CircuitBreaker `yaml:"circuit_breaker" json:"circuit_breaker,omitempty"`
	TLS            *UpstreamTLS    `yaml:"tls" json:"tls,omitempty"`
	MaxIdleConns   int             `yaml:"max_idle_conns" json:"max_idle_conns,omitempty" doc:"Idle keep-alive connections kept per target. Default 256."`
	// MaxResponseHeaderBytes bounds the upstream's response head.
	MaxResponseHeaderBytes Size          `yaml:"max_response_header_bytes" json:"max_response_header_bytes,omitempty" doc:"Status line plus headers of an upstream response; a larger one is a 502 bad-gateway. Default 64KiB, between 1KiB and 1MiB."`
	LoadShedding           *LoadShedding `yaml:"load_shedding" json:"load_shedding,omitempty" doc:"An adaptive concurrency limit that follows the upstream's latency and sheds low-priority requests first."`
	Pos                    Pos           `yaml:"-" json:"-"`
}

// LoadShedding is an upstream's adaptive concurrency limit.
type LoadShedding struct {
	MinLimit     int      `yaml:"min_limit" json:"min_limit,omitempty" doc:"The limit never goes below this many requests in flight. Default 4."`
	MaxLimit     int      `yaml:"max_limit" json:"max_limit,omitempty" doc:"Nor above this. Default 1000."`
	InitialLimit int      `yaml:"initial_limit" json:"initial_limit,omitempty" doc:"The limit at start. Default 32."`
	Tolerance    float64  `yaml:"tolerance" json:"tolerance,omitempty" doc:"Median latency above tolerance x the baseline (the lowest median over window) cuts the limit. Default 2; more than 1."`
	Window       Duration `yaml:"window" json:"window,omitempty" doc:"How far back the baseline latency looks; an upstream slower for good is the new normal after this long. Default 1m."`
	Pos          Pos      `yaml:"-" json:"-"`
}

// Target is one backend address.
type Target struct {
	URL    string `yaml:"url,required" json:"url,omitempty" doc:"http:// or https:// with host and port; no path."`
	Weight int    `yaml:"weight" json:"weight,omitempty" doc:"Relative share of traffic. Default 1."`
}

// HealthCheck holds active and passive checks.
type HealthCheck struct {
	Active  *ActiveCheck  `yaml:"active" json:"active,omitempty"`
	Passive *PassiveCheck `yaml:"passive" json:"passive,omitempty"`
}

// ActiveCheck probes each target on an interval.
type ActiveCheck struct {
	Path string `yaml:"path" json:"path,omitempty" doc:"The path probed with GET. Required, except on a grpc upstream, which is probed by the gRPC health checking protocol (grpc.health.v1.Health/Check)."`
	// GRPCService is the service a grpc upstream's check asks about.
	GRPCService        string   `yaml:"grpc_service" json:"grpc_service,omitempty" doc:"The service name a grpc upstream's check asks grpc.health.v1.Health/Check about; empty (default) asks about the server as a whole."`
	Interval           Duration `yaml:"interval" json:"interval,omitempty" doc:"Default 5s."`
	Timeout            Duration `yaml:"timeout" json:"timeout,omitempty" doc:"Default 2s."`
	HealthyThreshold   int      `yaml:"healthy_threshold" json:"healthy_threshold,omitempty" doc:"Consecutive successes to mark healthy. Default 2."`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold" json:"unhealthy_threshold,omitempty" doc:"Consecutive failures to mark unhealthy. Default 3."`
	ExpectStatus       []int    `yaml:"expect_status" json:"expect_status,omitempty" doc:"Statuses counted healthy. Default 200-399."`
}

// PassiveCheck ejects targets that fail live traffic.
type PassiveCheck struct {
	On                  []string `yaml:"on" json:"on,omitempty" doc:"What counts as a failure: connect_failure (the target could not be reached), error (any transport error: connect, reset, timeout, malformed or cut-off response), 5xx (a 5xx status). Default [error, 5xx] when passive is configured; without it, passive ejection runs on connect_failure only."`
	Disabled            bool     `yaml:"disabled" json:"disabled,omitempty" doc:"Turn passive ejection off, including the default on connect failures."`
	ConsecutiveFailures int      `yaml:"consecutive_failures" json:"consecutive_failures,omitempty" doc:"Failures in a row that eject a target. Default 5."`
	EjectFor            Duration `yaml:"eject_for" json:"eject_for,omitempty" doc:"First ejection period; doubles on repeat. Default 10s."`
	MaxEjectFor         Duration `yaml:"max_eject_for" json:"max_eject_for,omitempty" doc:"Cap of the ejection period. Default 5m."`
}

// Timeouts bound each phase of an upstream exchange.
type Timeouts struct {
	Connect        Duration `yaml:"connect" json:"connect,omitempty" doc:"Default 2s."`
	ResponseHeader Duration `yaml:"response_header" json:"response_header,omitempty" doc:"Default 15s."`
	Request        Duration `yaml:"request" json:"request,omitempty" doc:"Whole exchange, body included; 0 (default) means none beyond the others."`
}

// Retries configures retrying a failed attempt on another target.
type Retries struct {
	Attempts      *int         `yaml:"attempts" json:"attempts,omitempty" doc:"Extra attempts after the first, on another target when there is one. Default 1; 0 disables retries."`
	On            []string     `yaml:"on" json:"on,omitempty" doc:"connect_failure, reset, timeout, or a status 500-599. Default [connect_failure]."`
	NonIdempotent bool         `yaml:"non_idempotent" json:"non_idempotent,omitempty" doc:"Also retry POST and PATCH. Off by default."`
	Budget        *RetryBudget `yaml:"budget" json:"budget,omitempty"`
}

// RetryBudget caps retries so they cannot multiply an outage.
type RetryBudget struct {
	Ratio        float64 `yaml:"ratio" json:"ratio,omitempty" doc:"Retries allowed per request over a 10s window. Default 0.2."`
	MinPerSecond int     `yaml:"min_per_second" json:"min_per_second,omitempty" doc:"Retries always allowed per second. Default 5."`
}

// CircuitBreaker opens per target when too many requests fail.
type CircuitBreaker struct {
	FailureRatio     float64  `yaml:"failure_ratio" json:"failure_ratio,omitempty" doc:"Failing share that opens the breaker. Default 0.5."`
	MinRequests      int      `yaml:"min_requests" json:"min_requests,omitempty" doc:"Requests in the window before the ratio counts. Default 20."`
	Window           Duration `yaml:"window" json:"window,omitempty" doc:"Default 10s."`
	OpenFor          Duration `yaml:"open_for" json:"open_for,omitempty" doc:"Time open before probing. Default 30s."`
	HalfOpenRequests int      `yaml:"half_open_requests" json:"half_open_requests,omitempty" doc:"Probe requests while half-open. Default 1."`
}

// UpstreamTLS configures TLS to https targets.
type UpstreamTLS struct {
	CAFile     string `yaml:"ca_file" json:"ca_file,omitempty" doc:"CA bundle; default the system roots."`
	CertFile   string `yaml:"cert_file" json:"cert_file,omitempty" doc:"Client certificate for upstream mTLS."`
	KeyFile    string `yaml:"key_file" json:"key_file,omitempty"`
	ServerName string `yaml:"server_name" json:"server_name,omitempty" doc:"SNI and the name verified; default the target host."`
	MinVersion string `yaml:"min_version" json:"min_version,omitempty" enum:"1.2|1.3" hint:"TLS 1.0 and 1.1 are insecure and never accepted" doc:"Default 1.2."`
}

// Policy is a named bundle of checks. Later stages add their sections here.
type Policy struct {
	Authenticate    []string         `yaml:"authenticate" json:"authenticate,omitempty" doc:"Authenticator names, any of which may accept the request; empty allows anonymous requests."`
	Authorize       *Authorize       `yaml:"authorize" json:"authorize,omitempty" doc:"What an authenticated caller must also satisfy. Required when authenticate is not empty: least privilege by default."`
	RateLimits      []*RateLimit     `yaml:"rate_limits" json:"rate_limits,omitempty" doc:"Limits on request rate, each per key; all must admit a request."`
	Quota           *Quota           `yaml:"quota" json:"quota,omitempty" doc:"A number of requests per calendar hour, day or month, per key."`
	Concurrency     *Concurrency     `yaml:"concurrency" json:"concurrency,omitempty" doc:"A cap on requests in flight per key, with a bounded queue."`
	Priority        string           `yaml:"priority" json:"priority,omitempty" enum:"critical|high|normal|low" doc:"Load-shedding priority of this policy's requests. Default normal for authenticated callers, low for anonymous ones; a consumer's priority attribute overrides it."`
	IP              *IPRules         `yaml:"ip" json:"ip,omitempty" doc:"Client addresses allowed or denied (CIDR), checked at stage 4 on the address derived through trusted proxies."`
	Geo             *GeoRules        `yaml:"geo" json:"geo,omitempty" doc:"Countries allowed or denied, looked up in the geoip database."`
	WAF             *WAF             `yaml:"waf" json:"waf,omitempty" doc:"The OWASP Core Rule Set (Coraza) on this policy's requests."`
	SecurityHeaders *SecurityHeaders `yaml:"security_headers" json:"security_headers,omitempty" doc:"Security headers added to this policy's responses when the upstream sent none."`
	CORS            *CORS            `yaml:"cors" json:"cors,omitempty" doc:"Cross-origin access from browsers: preflights answered by the gateway, Access-Control-* headers owned by it."`
	Bots            *Bots            `yaml:"bots" json:"bots,omitempty" doc:"Bot defence: rules on client fingerprints (JA4, User-Agent, header consistency), a proof-of-work challenge for browsers, and an allow-list of good bots."`
	Correlate       *Correlate       `yaml:"correlate" json:"correlate,omitempty" doc:"Attack patterns recognised across requests: credential stuffing (failed logins for many accounts from one client) and enumeration (refusals over many object ids from one consumer). Each detection is an event that says why, and an offence for the graduated response."`
	ThreatIntel     []*ThreatRule    `yaml:"threat_intel" json:"threat_intel,omitempty" doc:"What to do with clients that threat-intelligence feeds list: block, challenge or flag; checked in order at stage 6, the first rule whose feeds list the client decides."`
	Graduated       *Graduated       `yaml:"graduated" json:"graduated,omitempty" doc:"Escalation against a key that keeps offending: warn, throttle, block, then ban for growing periods."`
	Validate        *Validate        `yaml:"validate" json:"validate,omitempty"`
	Request         *RequestFilters  `yaml:"request" json:"request,omitempty" doc:"What the gateway changes in this policy's request bodies before the upstream sees them."`
	Response        *Response        `yaml:"response" json:"response,omitempty" doc:"What leaves the gateway in this policy's responses: fields removed, personal data and credentials masked."`
	Pos             Pos              `yaml:"-" json:"-"`
}

// Response configures the response filters (stage 17) of a policy: how
// much of a body is held, and the transforms made to it. Each transform
// declares its keys in its own package; they sit beside these in the
// file (see Transforms).
type Response struct {
	MaxBodyBytes Size       `yaml:"max_body_bytes" json:"max_body_bytes,omitempty" doc:"Responses are held and filtered up to this size. Default 1MiB, at most 64MiB."`
	OnOversize   string     `yaml:"on_oversize" json:"on_oversize,omitempty" enum:"refuse|pass" doc:"A larger response: refuse (default) answers a 502 response-not-filtered problem; pass sends it on unfiltered."`
	Transforms   Transforms `yaml:",inline" extensions:"response_transforms" json:"-"`
	Pos          Pos        `yaml:"-" json:"-"`
}

// MarshalJSON writes the transforms' keys beside the section's own, as
// the file has them.
func (r Response) MarshalJSON() ([]byte, error) {
	type own Response
	return withSettings(own(r), slices.Collect(maps.Values(r.Transforms))...)
}

// Transforms are the transforms a section sets, by name: the settings of
// each whose keys the file names. A field of this type is tagged
// yaml:",inline" and extensions:"REGISTRY": a key the section does not
// have is one of the settings of the types of that registry of
// LoadOptions, which may not share a key.
type Transforms map[string]Settings

// RequestFilters configures what a policy changes in request bodies.
type RequestFilters struct {
	EncryptFields []string `yaml:"encrypt_fields,required" json:"encrypt_fields,omitempty" doc:"JSON fields of request bodies encrypted (JWE, dir + A256GCM) before the upstream sees them, as field patterns."`
	Keyset        string   `yaml:"keyset,required" json:"keyset,omitempty" doc:"The keyset under keysets whose primary key encrypts."`
	Pos           Pos      `yaml:"-" json:"-"`
}

// Keyset is a set of AES-256 keys.
type Keyset struct {
	Primary string      `yaml:"primary,required" json:"primary,omitempty" doc:"The id of the key new ciphertexts are made with."`
	Keys    []KeysetKey `yaml:"keys,required" json:"keys,omitempty" doc:"Every key still accepted for decryption, the primary among them."`
	Pos     Pos         `yaml:"-" json:"-"`
}

// KeysetKey is one key of a keyset.
type KeysetKey struct {
	ID     string  `yaml:"id,required" json:"id,omitempty" doc:"The key id, written in each ciphertext's header."`
	Secret *Secret `yaml:"secret" json:"secret,omitempty" doc:"32 random bytes, base64-encoded (openssl rand -base64 32), as env:NAME or file:PATH. Give secret or token_key."`
	// TokenKey names an AES-256 key in a PKCS#11 token.
	TokenKey string `yaml:"token_key" json:"token_key,omitempty" doc:"An AES-256 key in a PKCS#11 token (pkcs11:token=...;object=...), in place of secret: the token encrypts and decrypts, and the key never leaves it. Needs the pkcs11 section."`
	Pos      Pos    `yaml:"-" json:"-"`
}

// Detector is an operator-defined kind of sensitive value.
type Detector struct {
	Pattern   string `yaml:"pattern,required" json:"pattern,omitempty" doc:"A regular expression (RE2 syntax) matching the values."`
	KeepFirst int    `yaml:"keep_first" json:"keep_first,omitempty" doc:"Characters left unmasked at the start of a value. Default 0."`
	KeepLast  int    `yaml:"keep_last" json:"keep_last,omitempty" doc:"Characters left unmasked at the end of a value. Default 0."`
	Pos       Pos    `yaml:"-" json:"-"`
}

// RateLimit is one request-rate limit (GCRA), counted per key.
type RateLimit struct {
	Key   string `yaml:"key,required" json:"key,omitempty" doc:"What is counted: consumer, ip, route, header:NAME, claim:NAME, or several joined with + (consumer+route)."`
	Rate  Rate   `yaml:"rate,required" json:"rate,omitempty" doc:"Sustained rate: N/s, N/m, N/h or N/d."`
	Burst int64  `yaml:"burst" json:"burst,omitempty" doc:"Requests admitted at once above the sustained rate's spacing. Default 1 (none beyond the rate)."`
	Scope string `yaml:"scope" json:"scope,omitempty" enum:"policy|route" doc:"policy (default): one budget per key across every route of the policy; route: a budget per key and route."`
	Mode  string `yaml:"mode" json:"mode,omitempty" enum:"enforce|shadow" doc:"shadow counts and reports what it would refuse (header, event, metric) and refuses nothing. Default enforce."`
	Name  string `yaml:"name" json:"name,omitempty" doc:"Name in RateLimit headers, events and metrics. Default the key and rate, e.g. consumer-100-per-s."`
	Pos   Pos    `yaml:"-" json:"-"`
}

// DisplayName is the limit's name, or when the config gives none its key
// and rate as a structured-field key: consumer-100-per-s.
func (rl *RateLimit) DisplayName() string {
	if rl.Name != "" {
		return rl.Name
	}
	k := strings.NewReplacer("+", "-", ":", "-").Replace(strings.ToLower(rl.Key))
	return k + "-" + strings.ReplaceAll(rl.Rate.String(), "/", "-per-")
}

// Quota is a request budget per calendar period.
type Quota struct {
	Key      string `yaml:"key" json:"key,omitempty" doc:"As for rate limits. Default consumer."`
	Limit    int64  `yaml:"limit,required" json:"limit,omitempty" doc:"Requests per period."`
	Period   string `yaml:"period,required" json:"period,omitempty" enum:"hour|day|month" doc:"Calendar period; a new one starts on the hour, at midnight, or on the 1st."`
	TimeZone string `yaml:"time_zone" json:"time_zone,omitempty" doc:"IANA zone the periods are aligned in, e.g. Europe/Paris. Default UTC."`
	Pos      Pos    `yaml:"-" json:"-"`
}

// Concurrency caps requests in flight per key.
type Concurrency struct {
	Limit        int      `yaml:"limit,required" json:"limit,omitempty" doc:"Requests in flight at once per key."`
	Key          string   `yaml:"key" json:"key,omitempty" doc:"As for rate limits. Default consumer (ip on an anonymous policy)."`
	Queue        int      `yaml:"queue" json:"queue,omitempty" doc:"Requests that may wait for a slot per key; more are refused at once. Default 0: no waiting."`
	QueueTimeout Duration `yaml:"queue_timeout" json:"queue_timeout,omitempty" doc:"How long a request waits for a slot before a 503. Default 1s; at most 30s."`
	Pos          Pos      `yaml:"-" json:"-"`
}

// Graduated is a policy's graduated response: a key's offences (requests
// the gateway refused for the reasons listed) are counted over a sliding
// window, and each level applies from its threshold on.
type Graduated struct {
	Key      string    `yaml:"key" json:"key,omitempty" doc:"As for rate limits: whose offences count. Default ip."`
	Offences []string  `yaml:"offences" json:"offences,omitempty" doc:"Problem types that count as an offence, e.g. rate-limited, quota-exceeded, invalid-credentials, forbidden. Default [rate-limited]. Requests refused while blocked always count."`
	Window   Duration  `yaml:"window" json:"window,omitempty" doc:"Offences are counted over this sliding window. Default 1m."`
	Warn     int64     `yaml:"warn" json:"warn,omitempty" doc:"From this many offences: a Rampart-Warning response header and an abuse.warn event. 0: off."`
	Throttle *Throttle `yaml:"throttle" json:"throttle,omitempty" doc:"From a number of offences, every request is delayed."`
	Block    int64     `yaml:"block" json:"block,omitempty" doc:"From this many offences every request is refused with 429 until the count falls. 0: off."`
	Ban      *Ban      `yaml:"ban" json:"ban,omitempty" doc:"From a number of offences the key is banned: 403 to every request for a period that grows with each ban."`
	Pos      Pos       `yaml:"-" json:"-"`
}

// SecurityHeaders are response headers a policy adds when the upstream
// did not set them. Every route also gets X-Content-Type-Options:
// nosniff and, on authenticated responses, Cache-Control: no-store
// unless the upstream marked them private.
type SecurityHeaders struct {
	FrameOptions          string `yaml:"frame_options" json:"frame_options,omitempty" enum:"DENY|SAMEORIGIN" doc:"X-Frame-Options: whether pages may frame the responses."`
	ReferrerPolicy        string `yaml:"referrer_policy" json:"referrer_policy,omitempty" enum:"no-referrer|no-referrer-when-downgrade|origin|origin-when-cross-origin|same-origin|strict-origin|strict-origin-when-cross-origin|unsafe-url"`
	ContentSecurityPolicy string `yaml:"content_security_policy" json:"content_security_policy,omitempty" doc:"Content-Security-Policy, e.g. default-src 'none'; frame-ancestors 'none' for a JSON API."`
	PermissionsPolicy     string `yaml:"permissions_policy" json:"permissions_policy,omitempty"`
	CacheAuthenticated    bool   `yaml:"cache_authenticated" json:"cache_authenticated,omitempty" doc:"Keep the upstream's Cache-Control on authenticated responses even when it allows shared caches (public). Default false: no-store."`
	Pos                   Pos    `yaml:"-" json:"-"`
}

// WAF runs the OWASP Core Rule Set on a policy's requests.
type WAF struct {
	Paranoia          int             `yaml:"paranoia" json:"paranoia,omitempty" doc:"CRS paranoia level 1-4: higher catches more and misfires more. Default 1."`
	Mode              string          `yaml:"mode" json:"mode,omitempty" enum:"block|detect" doc:"block (default): 403 waf-blocked; detect: a waf.detect event, the request goes on."`
	InboundThreshold  int             `yaml:"inbound_threshold" json:"inbound_threshold,omitempty" doc:"Inbound anomaly score that blocks (CRS: critical 5, error 4, warning 3, notice 2). Default 5."`
	Exclusions        []*WAFExclusion `yaml:"exclusions" json:"exclusions,omitempty" doc:"Rules turned off for known false positives, everywhere or for one target."`
	LogFile           string          `yaml:"log_file" json:"log_file,omitempty" doc:"Every rule match also goes here as one line in Coraza's (ModSecurity's) error-log format, for the CRS tooling; relative to the config file, or stderr. SIGUSR1 reopens it."`
	RulesBefore       string          `yaml:"rules_before" json:"rules_before,omitempty" doc:"Your own SecLang rules run before the CRS (SecRule, SecAction, SecMarker), as the CRS's REQUEST-900 exclusion file: set the tx variables the CRS reads (tx.allowed_methods, tx.allowed_request_content_type, tx.max_file_size ...) or remove rules for some requests with ctl:ruleRemoveById. Ids below 900000."`
	Rules             string          `yaml:"rules" json:"rules,omitempty" doc:"Your own SecLang rules (virtual patches), run after the CRS; ids below 900000, which the CRS reserves. Matches with the log action go to log_file."`
	InspectResponses  bool            `yaml:"inspect_responses" json:"inspect_responses,omitempty" doc:"Also run the CRS's data-leakage rules (950-959: SQL, PHP, Java, IIS and Ruby errors, source code, web shells) on the upstream's responses, holding each response until inspected; a leak gets 502 response-withheld. Default false."`
	ResponseBodyLimit Size            `yaml:"response_body_limit" json:"response_body_limit,omitempty" doc:"With inspect_responses: how much of a text, HTML, XML or JSON body is held and inspected; the rest passes uninspected. Default 512KiB, at most 16MiB."`
	Pos               Pos             `yaml:"-" json:"-"`
}

// WAFExclusion turns one CRS rule off, or off for one target.
type WAFExclusion struct {
	Rule   int    `yaml:"rule,required" json:"rule,omitempty" doc:"The CRS rule id, as the waf.detect or request.refused event names it."`
	Target string `yaml:"target" json:"target,omitempty" doc:"Only for this target, e.g. ARGS:json.comment (a JSON field) or REQUEST_COOKIES:prefs; empty: everywhere."`
}

// PKCS11 is the module keys in tokens are used through.
type PKCS11 struct {
	Module string  `yaml:"module,required" json:"module,omitempty" doc:"Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so or the HSM vendor's."`
	Pin    *Secret `yaml:"pin,required" json:"pin,omitempty" doc:"The token user's PIN, as env:NAME or file:PATH."`
	Pos    Pos     `yaml:"-" json:"-"`
}

// Baselines configures the routes' learnt baselines.
type Baselines struct {
	Interval    Duration `yaml:"interval" json:"interval,omitempty" doc:"Each route is judged and learns once per interval. Default 1m; 1s to 1h."`
	Tolerance   float64  `yaml:"tolerance" json:"tolerance,omitempty" doc:"An interval beyond the baseline's mean by more than this many standard deviations is a spike. Default 4; 2 to 20."`
	MinRequests int64    `yaml:"min_requests" json:"min_requests,omitempty" doc:"An interval with fewer requests on a route is neither judged nor learnt. Default 100."`
	Pos         Pos      `yaml:"-" json:"-"`
}

// AccessReview sets what an access review flags, and whether the
// gateway revokes unused keys by itself.
type AccessReview struct {
	UnusedAfter      Duration `yaml:"unused_after" json:"unused_after,omitempty" doc:"An API key or a role not used for this long is flagged (a key never used, from its creation). Default 90d."`
	LapseWithin      Duration `yaml:"lapse_within" json:"lapse_within,omitempty" doc:"A just-in-time grant ending within this is flagged. Default 24h."`
	RevokeUnusedKeys bool     `yaml:"revoke_unused_keys" json:"revoke_unused_keys,omitempty" doc:"The gateway revokes the keys unused for unused_after, hourly, one node at a time, each in the audit trail. Default false: flagged only. Needs unused_after of at least 7d."`
	Pos              Pos      `yaml:"-" json:"-"`
}

// Correlate is a policy's attack-pattern detectors.
type Correlate struct {
	CredentialStuffing *Stuffing    `yaml:"credential_stuffing" json:"credential_stuffing,omitempty" doc:"Failed authentications (401) for many distinct credentials from one client."`
	Enumeration        *Enumeration `yaml:"enumeration" json:"enumeration,omitempty" doc:"Refusals and misses (403, 404) over many distinct object ids from one consumer (BOLA probing), on routes with path parameters."`
	Pos                Pos          `yaml:"-" json:"-"`
}

// Stuffing detects credential stuffing.
type Stuffing struct {
	Key      string   `yaml:"key" json:"key,omitempty" enum:"ip|ja4|asn" hint:"credential stuffing is told by where it comes from: ip, ja4 for a botnet sharing one TLS stack, or asn for one hosting network" doc:"Whose failures count together: ip (default), ja4 (one TLS client across many addresses) or asn (one autonomous system, e.g. a hosting provider's addresses; needs geoip.asn_database; an address in no AS counts by itself)."`
	Window   Duration `yaml:"window" json:"window,omitempty" doc:"Failures are counted over this sliding window. Default 10m."`
	Failures int64    `yaml:"failures" json:"failures,omitempty" doc:"From this many failed authentications in the window... Default 20."`
	Distinct int64    `yaml:"distinct" json:"distinct,omitempty" doc:"...for at least this many distinct credentials (accounts, keys, tokens), the client is stuffing. Default 5; at most 1000."`
	Pos      Pos      `yaml:"-" json:"-"`
}

// Enumeration detects object enumeration.
type Enumeration struct {
	Window   Duration `yaml:"window" json:"window,omitempty" doc:"Refusals are counted over this sliding window. Default 5m."`
	Refusals int64    `yaml:"refusals" json:"refusals,omitempty" doc:"From this many 403 and 404 answers in the window... Default 30."`
	Distinct int64    `yaml:"distinct" json:"distinct,omitempty" doc:"...over at least this many distinct object ids (path parameter values), the consumer is enumerating. Default 20; at most 1000."`
	Pos      Pos      `yaml:"-" json:"-"`
}

// ThreatIntel is the gateway's threat-intelligence feeds.
type ThreatIntel struct {
	Feeds map[string]*ThreatFeed `yaml:"feeds,required" json:"feeds,omitempty" doc:"Named feeds that policies' threat_intel rules refer to."`
	Pos   Pos                    `yaml:"-" json:"-"`
}

// ThreatFeed is one feed: where it is read from and in what format.
type ThreatFeed struct {
	URL        string             `yaml:"url" json:"url,omitempty" doc:"An https:// URL the feed is downloaded from, with a conditional request (ETag, Last-Modified) on each refresh. Give url, file or crowdsec."`
	File       string             `yaml:"file" json:"file,omitempty" doc:"A file the feed is read from, relative to the config file; read again when it changes."`
	CrowdSec   *CrowdSecFeed      `yaml:"crowdsec" json:"crowdsec,omitempty" doc:"A CrowdSec Local API the gateway follows as a bouncer: the addresses and ranges of its active decisions, kept current through its decisions stream."`
	Format     string             `yaml:"format" json:"format,omitempty" enum:"plain|netset|spamhaus_drop|ja4" doc:"plain (default): an address, CIDR range or first-last range per line; netset: FireHOL netsets and ipsets; spamhaus_drop: Spamhaus DROP/EDROP, text or JSON lines; ja4: JA4 TLS fingerprints. Not for a crowdsec feed."`
	Refresh    Duration           `yaml:"refresh" json:"refresh,omitempty" doc:"How often the feed is checked for a new version. Default 1h for a URL (most publishers ask for no more), 1m for a file, 10s for a CrowdSec stream; at least 1s."`
	Timeout    Duration           `yaml:"timeout" json:"timeout,omitempty" doc:"Bound on one download. Default 30s."`
	MaxBytes   Size               `yaml:"max_bytes" json:"max_bytes,omitempty" doc:"A larger feed is refused and the previous version kept. Default 64MiB."`
	MaxEntries int                `yaml:"max_entries" json:"max_entries,omitempty" doc:"A feed listing more entries is refused and the previous version kept. Default 5000000."`
	CAFile     string             `yaml:"ca_file" json:"ca_file,omitempty" doc:"CA bundle the feed's server certificate is verified with, in place of the system's roots."`
	Headers    map[string]*Secret `yaml:"headers" json:"headers,omitempty" doc:"Request headers sent with each download, e.g. an API key (Key: env:ABUSEIPDB_KEY); the values are secrets, as env:NAME or file:PATH."`
	Exclude    []string           `yaml:"exclude" json:"exclude,omitempty" doc:"Addresses and CIDR ranges this feed never lists, whatever it says: your own networks, and the private ranges some lists include (FireHOL level 1 lists 10.0.0.0/8, 192.168.0.0/16 ...)."`
	Pos        Pos                `yaml:"-" json:"-"`
}

// CrowdSecFeed is a CrowdSec Local API followed as a bouncer.
type CrowdSecFeed struct {
	URL                    string   `yaml:"url,required" json:"url,omitempty" doc:"The Local API, e.g. http://127.0.0.1:8080: http only on loopback (the key would travel in clear), https elsewhere, verified with the feed's ca_file or the system's roots."`
	APIKey                 *Secret  `yaml:"api_key,required" json:"api_key,omitempty" doc:"The bouncer key from cscli bouncers add NAME, as env:NAME or file:PATH. The Local API sends each key only what changed since its own last pull: give each gateway node and each crowdsec feed a key of its own."`
	DecisionTypes          []string `yaml:"decision_types" json:"decision_types,omitempty" doc:"The decision types this feed lists (ban, captcha, throttle or a custom one). Default [ban]; a second feed with [captcha] and its own key can serve a policy's challenge rule."`
	Origins                []string `yaml:"origins" json:"origins,omitempty" doc:"Only decisions of these origins (crowdsec, cscli, CAPI, lists ...). Default: all."`
	ScenariosContaining    []string `yaml:"scenarios_containing" json:"scenarios_containing,omitempty" doc:"Only decisions whose scenario contains one of these words."`
	ScenariosNotContaining []string `yaml:"scenarios_not_containing" json:"scenarios_not_containing,omitempty" doc:"No decision whose scenario contains one of these words."`
	Pos                    Pos      `yaml:"-" json:"-"`
}

// ThreatRule is one of a policy's threat-intelligence rules.
type ThreatRule struct {
	Feeds  []string `yaml:"feeds,required" json:"feeds,omitempty" doc:"Feeds from threat_intel.feeds; the rule applies to a client any of them lists (its address, or its JA4 fingerprint for a ja4 feed)."`
	Action string   `yaml:"action,required" json:"action,omitempty" enum:"block|challenge|flag" doc:"block: a 403 threat-listed problem; challenge: the bots proof-of-work challenge for browsers, a 403 for other clients (needs bots.challenge); flag: a threat.listed event and a threat-listed offence for the graduated response, and the request goes on."`
	Pos    Pos      `yaml:"-" json:"-"`
}

// GeoIP is the country database.
type GeoIP struct {
	Database    string `yaml:"database" json:"database,omitempty" doc:"A MaxMind-format file (GeoLite2-Country.mmdb or any with country.iso_code), relative to the config file, for policies' geo rules. Reloads reopen it."`
	ASNDatabase string `yaml:"asn_database" json:"asn_database,omitempty" doc:"A MaxMind-format ASN file (GeoLite2-ASN.mmdb: autonomous_system_number and _organization), for credential-stuffing detection keyed by asn. Reloads reopen it."`
	Pos         Pos    `yaml:"-" json:"-"`
}

// IPRules are a policy's address lists: deny wins, and a non-empty allow
// list admits only its addresses.
type IPRules struct {
	Allow []string `yaml:"allow" json:"allow,omitempty" doc:"Only these addresses or CIDR ranges, when set."`
	Deny  []string `yaml:"deny" json:"deny,omitempty" doc:"Never these, even when allowed."`
	Pos   Pos      `yaml:"-" json:"-"`
}

// GeoRules are a policy's country rules.
type GeoRules struct {
	Allow   []string `yaml:"allow" json:"allow,omitempty" doc:"Only these ISO 3166-1 alpha-2 countries (FR, DE ...), when set."`
	Deny    []string `yaml:"deny" json:"deny,omitempty" doc:"Not these countries. Give allow or deny, not both."`
	Unknown string   `yaml:"unknown" json:"unknown,omitempty" enum:"allow|deny" doc:"Addresses the database places in no country (private ranges, new allocations). Default deny with an allow list, allow with a deny list."`
	Pos     Pos      `yaml:"-" json:"-"`
}

// CORS is a policy's cross-origin settings, stage 5 of the request path.
type CORS struct {
	AllowOrigins     []string `yaml:"allow_origins,required" json:"allow_origins,omitempty" doc:"Exact origins (https://app.example.com), subdomain patterns (https://*.example.com), or * for any (never with credentials)."`
	AllowMethods     []string `yaml:"allow_methods" json:"allow_methods,omitempty" doc:"Methods allowed cross-origin. Default [GET, HEAD, POST]."`
	AllowHeaders     []string `yaml:"allow_headers" json:"allow_headers,omitempty" doc:"Request headers allowed cross-origin, e.g. Authorization; * for any (never with credentials). Default [Accept, Accept-Language, Content-Language, Content-Type]."`
	ExposeHeaders    []string `yaml:"expose_headers" json:"expose_headers,omitempty" doc:"Response headers scripts may read beyond the safelisted ones, e.g. RateLimit, X-Request-Id."`
	AllowCredentials bool     `yaml:"allow_credentials" json:"allow_credentials,omitempty" doc:"Let browsers send cookies and HTTP authentication. Never with a wildcard origin or header."`
	MaxAge           Duration `yaml:"max_age" json:"max_age,omitempty" doc:"How long browsers may cache a preflight. Default 10m; at most 24h."`
	Pos              Pos      `yaml:"-" json:"-"`
}

// Bots is a policy's bot defence, stage 6 of the request path.
type Bots struct {
	Rules     []*BotRule `yaml:"rules" json:"rules,omitempty" doc:"Checked in order; flag goes on to the next rule, challenge and block end the check."`
	Challenge *Challenge `yaml:"challenge" json:"challenge,omitempty" doc:"The proof-of-work challenge; required when a rule's action is challenge."`
	GoodBots  []*GoodBot `yaml:"good_bots" json:"good_bots,omitempty" doc:"Crawlers and monitors let through without rules or challenge, once verified by IP range or reverse DNS."`
	Anomaly   *Anomaly   `yaml:"anomaly" json:"anomaly,omitempty" doc:"Flag or refuse client addresses whose request rate stands far above the median of the active addresses."`
	Pos       Pos        `yaml:"-" json:"-"`
}

// Anomaly is per-address request-rate anomaly detection.
type Anomaly struct {
	Factor  float64 `yaml:"factor" json:"factor,omitempty" doc:"An address is anomalous above factor x the median rate of active addresses. Default 10; at least 2."`
	MinRate Rate    `yaml:"min_rate" json:"min_rate,omitempty" doc:"...and above this rate, so a quiet site flags nobody. Default 5/s."`
	Action  string  `yaml:"action" json:"action,omitempty" enum:"flag|block" doc:"flag (default): a bot.anomaly event and a rate-anomaly offence for the graduated response; block: also 429."`
	Pos     Pos     `yaml:"-" json:"-"`
}

// BotRule is one bot rule: a CEL condition and what to do when it holds.
type BotRule struct {
	Name   string `yaml:"name,required" json:"name,omitempty" doc:"Named in events, metrics and problems."`
	When   string `yaml:"when,required" json:"when,omitempty" doc:"A CEL condition over request, client (ja4, user_agent, ua_family, browser_claimed, inconsistencies) and tls; see docs/bot-defence.md."`
	Action string `yaml:"action,required" json:"action,omitempty" enum:"flag|challenge|block" doc:"flag: a bot.flag event, then the next rule; challenge: a proof of work for browsers, a 403 problem for other clients; block: a 403 problem."`
	Pos    Pos    `yaml:"-" json:"-"`
}

// Challenge configures the proof-of-work interstitial.
type Challenge struct {
	Secret     *Secret  `yaml:"secret,required" json:"secret,omitempty" doc:"HMAC key signing challenges and pass cookies, as env:NAME or file:PATH; at least 32 bytes. Every node needs the same one."`
	Difficulty int      `yaml:"difficulty" json:"difficulty,omitempty" doc:"Leading zero bits the solution's SHA-256 needs: each bit doubles the work. Default 16 (about 65,000 hashes, a second or less in a browser); 8 to 24."`
	TTL        Duration `yaml:"ttl" json:"ttl,omitempty" doc:"How long a solved challenge's pass cookie lets the client through. Default 30m; at most 24h."`
	Pos        Pos      `yaml:"-" json:"-"`
}

// GoodBot is one allowed crawler or monitor.
type GoodBot struct {
	Name      string   `yaml:"name,required" json:"name,omitempty"`
	UserAgent string   `yaml:"user_agent" json:"user_agent,omitempty" doc:"Text the User-Agent must contain, e.g. Googlebot."`
	Domains   []string `yaml:"domains" json:"domains,omitempty" doc:"The client address's reverse DNS name must be in one of these domains, and that name must resolve back to the address."`
	CIDRs     []string `yaml:"cidrs" json:"cidrs,omitempty" doc:"Address ranges the bot calls from."`
	Pos       Pos      `yaml:"-" json:"-"`
}

// Throttle delays a key's requests.
type Throttle struct {
	After int64    `yaml:"after,required" json:"after,omitempty" doc:"Offences from which requests are delayed."`
	Delay Duration `yaml:"delay" json:"delay,omitempty" doc:"Delay added to each request. Default 1s; at most 10s."`
	Pos   Pos      `yaml:"-" json:"-"`
}

// Ban bans a key for escalating periods.
type Ban struct {
	After   int64      `yaml:"after,required" json:"after,omitempty" doc:"Offences that start a ban."`
	Periods []Duration `yaml:"periods" json:"periods,omitempty" doc:"Length of the first, second, ... ban; repeat offenders keep the last. Default [1m, 10m, 1h]."`
	Forget  Duration   `yaml:"forget" json:"forget,omitempty" doc:"Past bans count towards the next period for this long after the last one ended. Default 24h."`
	Pos     Pos        `yaml:"-" json:"-"`
}

// Authorize is stage 10: every check listed must pass.
type Authorize struct {
	AnyAuthenticated bool           `yaml:"any_authenticated" json:"any_authenticated,omitempty" doc:"Admit any authenticated caller with no further check. Must be said explicitly: a policy that authenticates but authorizes nothing is refused."`
	Roles            []string       `yaml:"roles" json:"roles,omitempty" doc:"The consumer must hold one of these roles, and that role must allow the request's method and path."`
	Scopes           []string       `yaml:"scopes" json:"scopes,omitempty" doc:"The credential (token, introspection answer, API key or consumer record) must carry every one of these scopes."`
	When             string         `yaml:"when" json:"when,omitempty" doc:"A CEL condition that must be true; see docs/access-control.md for its variables (request, consumer, claims, tls)."`
	RequireACR       []string       `yaml:"require_acr" json:"require_acr,omitempty" doc:"The token's acr claim must be one of these (RFC 9470 step-up); otherwise 401 insufficient_user_authentication."`
	MaxAuthAge       Duration       `yaml:"max_auth_age" json:"max_auth_age,omitempty" doc:"The token's auth_time must be at most this old (RFC 9470 step-up); otherwise 401 insufficient_user_authentication."`
	External         *ExternalAuthz `yaml:"external" json:"external,omitempty" doc:"Ask an HTTP authorization service (like Envoy's ext_authz) after the other checks pass."`
	Pos              Pos            `yaml:"-" json:"-"`
}

// ExternalAuthz is an HTTP authorization service.
type ExternalAuthz struct {
	URL      string   `yaml:"url,required" json:"url,omitempty" doc:"Where the decision request is POSTed (https, or http on loopback)."`
	Timeout  Duration `yaml:"timeout" json:"timeout,omitempty" doc:"One call. Default 1s."`
	Headers  []string `yaml:"headers" json:"headers,omitempty" doc:"Request headers sent to the service besides method, path and identity. Default none."`
	CacheTTL Duration `yaml:"cache_ttl" json:"cache_ttl,omitempty" doc:"How long a decision is reused for the same consumer, method, path and sent headers. Default 0: not cached. At most 10m."`
	FailOpen bool     `yaml:"fail_open" json:"fail_open,omitempty" doc:"Admit requests when the service cannot be asked. Default false: such requests get a 503."`
	Pos      Pos      `yaml:"-" json:"-"`
}

// Role is what a consumer holding it may call.
type Role struct {
	Allow []*AllowRule `yaml:"allow,required" json:"allow,omitempty" doc:"Rules, any of which may allow a request."`
	Pos   Pos          `yaml:"-" json:"-"`
}

// AllowRule allows methods on paths.
type AllowRule struct {
	Methods []string `yaml:"methods" json:"methods,omitempty" doc:"Empty allows every method."`
	Paths   []string `yaml:"paths,required" json:"paths,omitempty" doc:"Patterns as in routes: exact, {param} for one segment, /** for any suffix. Matched against the path the client sent."`
	Pos     Pos      `yaml:"-" json:"-"`
}

// Store configures where consumers and API keys are kept: the driver,
// its settings (declared by the driver's package), and what every
// driver has.
type Store struct {
	Driver       string   `yaml:"driver,required" json:"driver,omitempty" doc:"The store driver; each has its own keys. embedded: one local file, nothing to install; postgres: shared by several gateways."`
	Settings     Settings `yaml:",inline" types:"stores,driver" json:"-"`
	SyncInterval Duration `yaml:"sync_interval" json:"sync_interval,omitempty" doc:"How often the gateway picks up key and consumer changes; the bound on how long a revoked key keeps working. Default 2s."`
	HashKey      *Secret  `yaml:"hash_key" json:"hash_key,omitempty" doc:"Optional pepper for the keyed hash of API keys (HMAC-SHA256); keeps a stolen database from confirming keys. Set it before creating keys: changing it invalidates them."`
	Pos          Pos      `yaml:"-" json:"-"`
}

// MarshalJSON writes the driver and the common keys beside the
// settings' keys, as the file has them.
func (s Store) MarshalJSON() ([]byte, error) {
	type own Store
	return withSettings(own(s), s.Settings)
}

// State configures where rate-limit state lives: the driver and its
// settings, declared by the driver's package.
type State struct {
	Driver   string   `yaml:"driver" json:"driver,omitempty" doc:"The state driver; each has its own keys. memory (default): per node; redis: shared, so several nodes enforce one limit."`
	Settings Settings `yaml:",inline" types:"states,driver,memory" json:"-"`
	Pos      Pos      `yaml:"-" json:"-"`
}

// MarshalJSON writes the driver beside the settings' keys, as the file
// has them.
func (s State) MarshalJSON() ([]byte, error) {
	type own State
	return withSettings(own(s), s.Settings)
}

// Identity configures what the gateway tells upstreams about the caller.
type Identity struct {
	AssertionTTL Duration `yaml:"assertion_ttl" json:"assertion_ttl,omitempty" doc:"Lifetime of X-Rampart-Assertion. Default 60s."`
	Issuer       string   `yaml:"issuer" json:"issuer,omitempty" doc:"iss of the assertion. Default rampart."`
	KeyRotation  Duration `yaml:"key_rotation" json:"key_rotation,omitempty" doc:"How often the assertion signing key is replaced; the old key stays in the JWKS for one more period. Default 24h."`
	SigningKey   string   `yaml:"signing_key" json:"signing_key,omitempty" doc:"An ECDSA P-256 key in a PKCS#11 token (pkcs11:token=...;object=...) that signs every assertion, in place of keys the gateway makes and rotates itself; it is rotated in the token. Needs the pkcs11 section."`
	Pos          Pos      `yaml:"-" json:"-"`
}

// Authenticator is one way to establish who is calling: its type, and
// the settings that type declares in its own package. The keys besides
// type are the settings' (see Settings).
type Authenticator struct {
	Type     string   `yaml:"type,required" json:"type,omitempty" doc:"The authenticator type; each has its own keys."`
	Settings Settings `yaml:",inline" types:"authenticators,type" json:"-"`
	Pos      Pos      `yaml:"-" json:"-"`
}

// MarshalJSON writes the type beside its settings' keys, as the file has
// them.
func (a Authenticator) MarshalJSON() ([]byte, error) {
	type own Authenticator
	return withSettings(own(a), a.Settings)
}

// Settings are the keys of one type of a union: an authenticator, an
// event sink, a store or a state driver, whose type names the struct its
// other keys decode into.
// They are a struct of data with the same tags as the rest of the
// config (yaml, json, doc, enum), declared in the type's package. A
// union's field of this interface is tagged yaml:",inline" and
// types:"REGISTRY,KEY[,DEFAULT]": the registry of LoadOptions its types
// come from, the key naming the type, and the type when that key is
// absent (else it is required).
type Settings interface {
	// Defaults sets what the file left unset.
	Defaults()
	// Validate checks the settings' rules, reporting through at.
	Validate(at *Validation)
}

// SettingsTypes are the types of a union a load accepts: each type's
// name and a function returning its empty settings. Main makes them from
// the registries (authn.Kinds.Settings, siem.SinkKinds.Settings); this
// package knows no type.
type SettingsTypes map[string]func() Settings

// withSettings is the JSON object of v (a section, as a type without
// its MarshalJSON) with the keys of each of settings added: the section
// as the file has it.
func withSettings(v any, settings ...Settings) ([]byte, error) {
	m := map[string]any{}
	for _, x := range append([]any{v}, anys(settings)...) {
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
	}
	return json.Marshal(m)
}

// anys is settings without the nil ones, as values of any.
func anys(settings []Settings) []any {
	var out []any
	for _, s := range settings {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// Consumer is a caller the gateway knows by id.
type Consumer struct {
	ID         string            `yaml:"id,required" json:"id,omitempty"`
	Roles      []string          `yaml:"roles" json:"roles,omitempty"`
	Scopes     []string          `yaml:"scopes" json:"scopes,omitempty" doc:"Scopes granted to the consumer whatever the credential."`
	Attributes map[string]string `yaml:"attributes" json:"attributes,omitempty"`
	Disabled   bool              `yaml:"disabled" json:"disabled,omitempty" doc:"Refuse every credential of this consumer."`
	Pos        Pos               `yaml:"-" json:"-"`
}

// Validate holds request body guards.
type Validate struct {
	MaxBodyBytes Size           `yaml:"max_body_bytes" json:"max_body_bytes,omitempty" doc:"Body limit for routes of this policy; at most server.limits.max_body_bytes."`
	ContentTypes []string       `yaml:"content_types" json:"content_types,omitempty" doc:"Media types a request body may have, e.g. [application/json]; others get 415. Parameters such as charset are ignored."`
	JSON         *JSONLimits    `yaml:"json" json:"json,omitempty" doc:"Structure limits for JSON bodies, checked in one streaming pass before the upstream sees the body."`
	OpenAPI      string         `yaml:"openapi" json:"openapi,omitempty" doc:"An OpenAPI 3.0 or 3.1 document (YAML or JSON, relative to the config file) the requests must match: parameters, headers, cookies and body."`
	Strict       bool           `yaml:"strict" json:"strict,omitempty" doc:"With openapi: refuse operations the document does not describe (404/405). Default false: they pass unchecked."`
	Responses    string         `yaml:"responses" json:"responses,omitempty" enum:"off|detect" doc:"With openapi: detect checks the upstream's responses to documented operations (status, headers, content type, body up to 1 MiB) and reports a mismatch as a schema.response event; the response is passed on unchanged. Default off."`
	GraphQL      *GraphQLLimits `yaml:"graphql" json:"graphql,omitempty" doc:"The routes serve GraphQL: each request (GET query, POST JSON or a batch, application/graphql) is parsed and held to these limits."`
	XML          *XMLLimits     `yaml:"xml" json:"xml,omitempty" doc:"Structure limits for XML bodies; a DTD is never accepted (no entity expansion, no external entities)."`
}

// GraphQLPersisted is a manifest of the operations a GraphQL API's
// clients may send (persisted operations, trusted documents).
type GraphQLPersisted struct {
	Manifest string `yaml:"manifest,required" json:"manifest,omitempty" doc:"A JSON file, relative to the config file: an Apollo persisted query manifest ({\"format\": \"apollo-persisted-query-manifest\", \"operations\": [{\"id\", \"body\", ...}]}) or an object of id to document (GraphQL Code Generator, Relay). Each document must parse."`
	Pos      Pos    `yaml:"-" json:"-"`
}

// GraphQLLimits bound what one GraphQL request may ask for.
type GraphQLLimits struct {
	// Persisted allow-lists the operations clients may send.
	Persisted     *GraphQLPersisted `yaml:"persisted" json:"persisted,omitempty" doc:"Only these operations pass: each request names one by its id (extensions.persistedQuery.sha256Hash, id or documentId), or sends a query whose SHA-256 is listed. The upstream always gets the listed text. Unknown operations get a 403 forbidden problem; bodies other than JSON and application/graphql a 415."`
	MaxDepth      int               `yaml:"max_depth" json:"max_depth,omitempty" doc:"Field nesting. Default 10."`
	MaxAliases    int               `yaml:"max_aliases" json:"max_aliases,omitempty" doc:"Aliased fields per request. Default 30."`
	MaxFields     int               `yaml:"max_fields" json:"max_fields,omitempty" doc:"Fields selected, fragments expanded. Default 500."`
	MaxCost       int               `yaml:"max_cost" json:"max_cost,omitempty" doc:"Fields weighted by the page sizes (first, last, limit) above them. Default 10000."`
	MaxBatch      int               `yaml:"max_batch" json:"max_batch,omitempty" doc:"Operations in one batched request. Default 5."`
	MaxTokens     int               `yaml:"max_tokens" json:"max_tokens,omitempty" doc:"Lexer tokens in one document: bounds parsing work. Default 15000."`
	MaxDirectives int               `yaml:"max_directives" json:"max_directives,omitempty" doc:"Directives in one request (@include, @skip, custom ones), fragments expanded: bounds directive overloading. Default 50."`
	Introspection bool              `yaml:"introspection" json:"introspection,omitempty" doc:"Allow __schema and __type queries. Off by default: the schema is not published to anyone who asks."`
	Suggestions   bool              `yaml:"suggestions" json:"suggestions,omitempty" doc:"Pass the upstream's field suggestions (Did you mean ...?) in error messages. Off by default: they are cut from errors[*].message of JSON responses, since they publish the schema a field at a time even with introspection off."`
	Get           string            `yaml:"get" json:"get,omitempty" enum:"queries|off" doc:"GraphQL over GET: queries (default) passes queries sent as ?query=; off refuses them (405), for APIs whose clients POST. A mutation over GET is always refused."`
	IDE           bool              `yaml:"ide" json:"ide,omitempty" doc:"Serve the upstream's IDE page (GraphiQL, Playground): a browser's GET without a query. Off by default: 404, so the page does not invite exploration of a production API."`
}

// XMLLimits bound an XML request body's structure.
type XMLLimits struct {
	MaxDepth      int  `yaml:"max_depth" json:"max_depth,omitempty" doc:"Nesting of elements. Default 32."`
	MaxElements   int  `yaml:"max_elements" json:"max_elements,omitempty" doc:"Elements in the document. Default 10000."`
	MaxAttributes int  `yaml:"max_attributes" json:"max_attributes,omitempty" doc:"Attributes per element. Default 32."`
	MaxText       Size `yaml:"max_text" json:"max_text,omitempty" doc:"Length of one text node or attribute value. Default 64KiB."`
}

// JSONLimits bound a JSON request body's structure.
type JSONLimits struct {
	MaxDepth           int  `yaml:"max_depth" json:"max_depth,omitempty" doc:"Nesting of objects and arrays. Default 32."`
	MaxKeys            int  `yaml:"max_keys" json:"max_keys,omitempty" doc:"Keys per object. Default 1000."`
	MaxArray           int  `yaml:"max_array" json:"max_array,omitempty" doc:"Items per array. Default 10000."`
	MaxString          Size `yaml:"max_string" json:"max_string,omitempty" doc:"Length of a key or string value. Default 64KiB."`
	AllowDuplicateKeys bool `yaml:"allow_duplicate_keys" json:"allow_duplicate_keys,omitempty" doc:"Duplicate keys are refused by default: parsers disagree on which value wins, which attackers use to slip a value past a check."`
}

// Route maps matching requests to an upstream under a policy.
type Route struct {
	Name     string   `yaml:"name,required" json:"name,omitempty"`
	Match    Match    `yaml:"match,required" json:"match,omitempty"`
	Upstream string   `yaml:"upstream,required" json:"upstream,omitempty"`
	Policy   string   `yaml:"policy,required" json:"policy,omitempty" doc:"A policy name, or 'public' for anonymous access."`
	Rewrite  *Rewrite `yaml:"rewrite" json:"rewrite,omitempty"`
	// ForwardAuthorization passes the client's Authorization header on.
	ForwardAuthorization bool `yaml:"forward_authorization" json:"forward_authorization,omitempty" doc:"Send the client's Authorization header upstream. Off by default: upstreams get X-Rampart-Assertion instead."`
	// AllowEncodedSlashes accepts %2F and %5C in paths, passed upstream
	// still encoded.
	AllowEncodedSlashes bool `yaml:"allow_encoded_slashes" json:"allow_encoded_slashes,omitempty" doc:"Accept %2F and %5C in request paths (for example object keys); they reach the upstream still encoded. Off by default: such paths get a 400 problem."`
	// AllowGetBody accepts a body on GET and HEAD requests.
	AllowGetBody bool `yaml:"allow_get_body" json:"allow_get_body,omitempty" doc:"Accept a body on GET and HEAD requests (some search APIs send one) and pass it upstream. Off by default: such requests get a 400 problem, since servers and caches disagree on whether the body belongs to the request."`
	// PathParameters is what happens to a ';' parameter in a path segment.
	PathParameters string `yaml:"path_parameters" json:"path_parameters,omitempty" enum:"refuse|strip" doc:"A path segment with a ';' parameter (/a;jsessionid=1/b): refuse it (default: Tomcat, Jetty and Spring drop parameters before routing, other servers do not, so the router and the upstream would see different paths), or strip the parameters from every segment, once, for the router and the upstream alike. A dot segment hidden behind a parameter (..;) is always refused."`
	// Cache keeps the route's responses (GET) for reuse.
	Cache *RouteCache `yaml:"cache" json:"cache,omitempty"`
	// Deprecation announces that the route's API version is going away.
	Deprecation *Deprecation `yaml:"deprecation" json:"deprecation,omitempty"`
	// Transform edits what the route sends upstream and what it answers.
	Transform *Transform `yaml:"transform" json:"transform,omitempty"`
	// GRPC makes the route a gRPC route (docs/grpc.md).
	GRPC *RouteGRPC `yaml:"grpc" json:"grpc,omitempty"`
	// Transcode serves gRPC methods to REST/JSON clients (docs/grpc.md).
	Transcode *Transcode `yaml:"transcode" json:"transcode,omitempty"`
	// GraphQLOperation serves one vetted GraphQL operation as the route's
	// REST endpoint (docs/protocol-mediation.md).
	GraphQLOperation *GraphQLOperation `yaml:"graphql_operation" json:"graphql_operation,omitempty"`
	// SOAPOperation serves one SOAP operation as the route's JSON
	// endpoint (docs/protocol-mediation.md).
	SOAPOperation *SOAPOperation `yaml:"soap_operation" json:"soap_operation,omitempty"`
	Pos           Pos            `yaml:"-" json:"-"`
}

// SOAPOperation is the one SOAP operation a route serves as a JSON
// endpoint: the request's values fill the envelope's body from a
// template, and the reply's result element comes back as JSON, a fault as
// a problem.
type SOAPOperation struct {
	Endpoint      string `yaml:"endpoint,required" json:"endpoint,omitempty" doc:"The upstream's SOAP endpoint path, for example /ws/users."`
	Action        string `yaml:"action" json:"action,omitempty" doc:"The operation's SOAPAction (SOAP 1.1 header, or the action parameter of the SOAP 1.2 media type)."`
	Version       string `yaml:"version" json:"version,omitempty" enum:"1.1|1.2" doc:"Default 1.1."`
	Body          string `yaml:"body,required" json:"body,omitempty" doc:"The XML inside soap:Body, with templates ({{ params.id }}, {{ query.q }}, {{ consumer.id }} ...) whose values are XML-escaped. Checked for well-formedness at load."`
	Result        string `yaml:"result" json:"result,omitempty" doc:"The element under soap:Body answered as JSON, by local names, dotted (GetUserResponse.user). Default: the body's first element."`
	MaxReplyBytes Size   `yaml:"max_reply_bytes" json:"max_reply_bytes,omitempty" doc:"Largest reply held to convert. Default 1MiB, at most 64MiB."`
	Pos           Pos    `yaml:"-" json:"-"`
}

// GraphQLOperation is the one GraphQL operation a route serves as a plain
// REST endpoint: its variables come from the request by templates, the
// upstream gets the operation and nothing else, and the client gets the
// operation's data as JSON, or a problem.
type GraphQLOperation struct {
	Query         string            `yaml:"query,required" json:"query,omitempty" doc:"The GraphQL document: one operation, or several with operation_name picking one. Checked at load."`
	OperationName string            `yaml:"operation_name" json:"operation_name,omitempty" doc:"The operation of query to run, when it has several."`
	Variables     map[string]string `yaml:"variables" json:"variables,omitempty" doc:"Variables as strings, from templates over the request: {{ params.id }}, {{ query.q }}, {{ consumer.id }} ... (as in transform)."`
	VariablesJSON map[string]string `yaml:"variables_json" json:"variables_json,omitempty" doc:"Variables whose template's text is their JSON value: numbers, booleans, lists (\"{{ query.first | default \\\"10\\\" }}\" makes ?first=2 the Int 2). A text that is not one JSON value is a 400."`
	Endpoint      string            `yaml:"endpoint" json:"endpoint,omitempty" doc:"The upstream's GraphQL path. Default /graphql."`
	Data          string            `yaml:"data" json:"data,omitempty" doc:"The field of data answered, dotted (user for data.user). Default: all of data. A null there is a 404."`
	MaxReplyBytes Size              `yaml:"max_reply_bytes" json:"max_reply_bytes,omitempty" doc:"Largest reply held to convert. Default 4MiB, at most 64MiB."`
	Pos           Pos               `yaml:"-" json:"-"`
}

// Transcode serves the methods of gRPC services to REST/JSON clients by
// their google.api.http rules: the route's requests become gRPC calls to
// its upstream, and the replies JSON.
type Transcode struct {
	DescriptorSet string   `yaml:"descriptor_set,required" json:"descriptor_set,omitempty" doc:"A compiled descriptor set with the services and their imports (protoc --include_imports --descriptor_set_out=FILE, or buf build -o FILE), relative to the config file. Imports it lacks are taken from the well-known types and google/api."`
	Services      []string `yaml:"services" json:"services,omitempty" doc:"Full names of the services to serve (package.Service). Default: every service of the set whose methods have google.api.http rules."`
	MaxReplyBytes Size     `yaml:"max_reply_bytes" json:"max_reply_bytes,omitempty" doc:"Largest reply message converted to JSON; a larger one is a 502 problem. Default 4MiB, at most 64MiB."`
	Pos           Pos      `yaml:"-" json:"-"`
}

// RouteGRPC makes a route serve gRPC calls: requests must be gRPC over
// HTTP/2, refusals reach the client as gRPC statuses, deadlines are
// capped and each message of a stream is bounded instead of the body as
// a whole. The route's paths name services and methods
// (/package.Service/Method, /package.Service/{method}).
type RouteGRPC struct {
	MaxMessageBytes Size     `yaml:"max_message_bytes" json:"max_message_bytes,omitempty" doc:"Largest message a client may send in a call, per message of a stream (the body limit does not apply to a stream as a whole). Default 4MiB, gRPC's own default; at most 64MiB."`
	MaxTimeout      Duration `yaml:"max_timeout" json:"max_timeout,omitempty" doc:"Cap on a call's deadline: a grpc-timeout above it is lowered to it, and a call without one gets it. The upstream gets the remaining time as grpc-timeout. Default 5m."`
	Web             bool     `yaml:"web" json:"web,omitempty" doc:"Take gRPC-Web calls too (application/grpc-web and application/grpc-web-text, over HTTP/1.1 or HTTP/2), as browsers make them: the upstream gets a gRPC call, and the client a gRPC-Web reply with the trailers in its body. With cors, allow_headers must list x-grpc-web and expose_headers grpc-status and grpc-message."`
}

// Transform edits a route's requests after every check has seen them as
// the client sent them (stage 15), and its responses before the response
// filters mask them (stage 17). Values come from templates such as
// "{{ consumer.id }}" over the request and its consumer (docs/transform.md).
type Transform struct {
	Request  *RequestTransform  `yaml:"request" json:"request,omitempty"`
	Response *ResponseTransform `yaml:"response" json:"response,omitempty"`
}

// RequestTransform edits the request sent upstream.
type RequestTransform struct {
	Method  string      `yaml:"method" json:"method,omitempty" doc:"The method sent upstream in place of the client's (method override), for example POST for an upstream that takes a query as a body."`
	Headers *FieldEdits `yaml:"headers" json:"headers,omitempty" doc:"Header edits. Names the gateway owns (hop-by-hop, Host, Content-Length, X-Forwarded-*, X-Request-Id, X-Rampart-*, trace context) cannot be edited."`
	Query   *FieldEdits `yaml:"query" json:"query,omitempty" doc:"Query parameter edits; parameters not named keep their place and encoding."`
	Body    *BodyEdits  `yaml:"body" json:"body,omitempty" doc:"JSON body edits. With body edits a non-empty body must be JSON and not compressed (else 415); an empty one starts as {}."`
}

// ResponseTransform edits the response sent to the client.
type ResponseTransform struct {
	Status        map[string]int `yaml:"status" json:"status,omitempty" doc:"Upstream status codes mapped to the status the client gets, for example {\"502\": 503}."`
	Headers       *FieldEdits    `yaml:"headers" json:"headers,omitempty" doc:"Header edits. Names the gateway owns (hop-by-hop, Content-Length, Content-Encoding, Set-Cookie aside, security headers, CORS, RateLimit, Cache-Status, Deprecation, Sunset, X-Request-Id) cannot be edited."`
	Body          *BodyEdits     `yaml:"body" json:"body,omitempty" doc:"JSON body edits, on JSON responses that are not replaced as errors."`
	ReplaceErrors []string       `yaml:"replace_errors" json:"replace_errors,omitempty" doc:"Upstream statuses whose body is replaced by a problem+json (so a stack trace never reaches a client): codes such as 404, or classes 4xx and 5xx."`
	MaxBody       Size           `yaml:"max_body" json:"max_body,omitempty" doc:"The largest response body edited; a larger one is withheld with a 502 problem. Default 1MiB."`
}

// FieldEdits edit named fields: headers or query parameters. Values are
// templates. Removals run first, then renames, sets and adds.
type FieldEdits struct {
	Set    map[string]string `yaml:"set" json:"set,omitempty" doc:"Fields set to a template's value, replacing any the client sent."`
	Add    map[string]string `yaml:"add" json:"add,omitempty" doc:"Fields added with a template's value, after any the client sent."`
	Remove []string          `yaml:"remove" json:"remove,omitempty" doc:"Fields removed."`
	Rename map[string]string `yaml:"rename" json:"rename,omitempty" doc:"Fields renamed, old name to new, values kept; a field of the new name is replaced."`
}

// BodyEdits edit a JSON document. Paths are field paths (user.id,
// items[0].sku); set and rename take exact paths, remove takes patterns
// (items[*].cost, **.debug). Removals run first, then renames, then sets.
type BodyEdits struct {
	Set     map[string]string `yaml:"set" json:"set,omitempty" doc:"Fields set to a template's value as a JSON string; objects on the way are created."`
	SetJSON map[string]string `yaml:"set_json" json:"set_json,omitempty" doc:"Fields set to JSON text (a number, true, an object ...) in which a template's value is inserted as JSON, a claim keeping its type: {\"owner\": \"{{ claims.uid }}\"}."`
	Remove  []string          `yaml:"remove" json:"remove,omitempty" doc:"Field patterns removed."`
	Rename  map[string]string `yaml:"rename" json:"rename,omitempty" doc:"Fields moved, old path to new; a field at the new path is replaced. A missing field is left missing."`
}

// RouteCache is a route's response cache (RFC 9111 semantics, as a
// shared cache that keeps what is one caller's for that caller alone).
type RouteCache struct {
	TTL        Duration `yaml:"ttl" json:"ttl,omitempty" doc:"How long a response stays fresh when the upstream says nothing (no Cache-Control max-age or s-maxage, no Expires). 0 (default): keep only what the upstream marks fresh."`
	Shared     bool     `yaml:"shared" json:"shared,omitempty" doc:"One entry for every caller. Off by default: an authenticated caller's responses are kept for that consumer alone. Even when shared, a response to a request with credentials is kept only if the upstream marks it public (or s-maxage)."`
	KeyHeaders []string `yaml:"key_headers" json:"key_headers,omitempty" doc:"Request headers that are part of the key besides method, host, path and query (the upstream's Vary is honoured as well)."`
	MaxBody    Size     `yaml:"max_body" json:"max_body,omitempty" doc:"The largest response body kept. Default 1MiB."`
	// StaleWhileRevalidate and StaleIfError extend an entry's use past
	// its freshness (RFC 5861) when the upstream says nothing.
	StaleWhileRevalidate Duration `yaml:"stale_while_revalidate" json:"stale_while_revalidate,omitempty" doc:"How long past its freshness an entry still answers while one request fetches it anew, when the upstream's Cache-Control gives no stale-while-revalidate. 0 (default): the others wait for that request."`
	StaleIfError         Duration `yaml:"stale_if_error" json:"stale_if_error,omitempty" doc:"How long past its freshness an entry answers in place of an upstream error (a 5xx, a timeout, no upstream reachable), when the upstream's Cache-Control gives no stale-if-error. 0 (default): the error is passed on."`
}

// Deprecation announces a route's end of life to its callers: the
// Deprecation (RFC 9745) and Sunset (RFC 8594) headers and Link relations
// on every response, then 410 Gone from the sunset on.
type Deprecation struct {
	Since     Time   `yaml:"since,required" json:"since,omitempty" doc:"When the route was, or will be, deprecated: a date (2026-06-01, midnight UTC) or an RFC 3339 time. Sent as the Deprecation header."`
	Sunset    Time   `yaml:"sunset" json:"sunset,omitempty" doc:"When the route stops answering: from then on every request gets a 410 problem naming the successor. Sent as the Sunset header. After since."`
	Link      string `yaml:"link" json:"link,omitempty" doc:"An https URL of a page about the deprecation and how to migrate (Link rel=\"deprecation\")."`
	Successor string `yaml:"successor" json:"successor,omitempty" doc:"Where the next version lives: an https URL or a path on this gateway such as /v2/orders (Link rel=\"successor-version\")."`
}

// Match selects requests.
type Match struct {
	Hosts   []string          `yaml:"hosts" json:"hosts,omitempty" doc:"Exact names or *.example.com; empty matches any host."`
	Paths   []string          `yaml:"paths,required" json:"paths,omitempty" doc:"Exact, {param} for one segment, /** for any suffix."`
	Methods []string          `yaml:"methods" json:"methods,omitempty" doc:"Empty allows every method."`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty" doc:"Headers that must be present with exactly these values."`
	// AcceptParams select a version by media-type parameter.
	AcceptParams map[string]string `yaml:"accept_params" json:"accept_params,omitempty" doc:"Media-type parameters the Accept header must carry, with exactly these values: {version: \"2\"} matches Accept: application/vnd.example+json; version=2 (the first media range that has the parameter decides). Each counts as a header condition."`
}

// Rewrite changes the path sent upstream.
type Rewrite struct {
	StripPrefix string `yaml:"strip_prefix" json:"strip_prefix,omitempty"`
	AddPrefix   string `yaml:"add_prefix" json:"add_prefix,omitempty"`
	Path        string `yaml:"path" json:"path,omitempty" doc:"A template such as /orders/{id}; params come from the matched pattern."`
	Host        string `yaml:"host" json:"host,omitempty" doc:"Host header sent upstream: empty for the target's host:port (default), preserve for the client's, or a host name."`
}
