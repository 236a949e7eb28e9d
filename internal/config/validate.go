package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PublicPolicy is the built-in anonymous policy.
const PublicPolicy = "public"

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

type validator struct {
	cfg     *Config
	errs    Errors
	offline bool // files absent are listed in cfg.Unchecked, not refused
	// transforms are the response transforms the load accepts.
	transforms SettingsTypes
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Pos: v.cfg.Pos(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) keyErrorf(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Pos: v.cfg.KeyPos(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) validate() {
	c := v.cfg
	if c.Version != 1 {
		v.errorf("version", "unsupported version %d: this Rampart reads version 1", c.Version)
	}
	v.enums(reflect.ValueOf(c).Elem(), "")
	v.server()
	v.admin()
	v.listenersDistinct()
	v.logs()
	for _, name := range sortedKeys(c.Upstreams) {
		v.upstream(name, c.Upstreams[name])
	}
	v.identity()
	v.roles()
	v.state()
	v.geoip()
	v.threatIntel()
	v.responseHeaders()
	v.detectors()
	v.keysets()
	v.trail()
	v.accessReview()
	v.baselines()
	v.pkcs11()
	v.tracing()
	for _, name := range sortedKeys(c.Policies) {
		v.policy(name, c.Policies[name])
	}
	v.routes()
	v.portal()
	v.problems()
}

// enums checks every string field that has an enum tag.
func (v *validator) enums(rv reflect.Value, path string) {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !rv.IsNil() {
			v.enums(rv.Elem(), path)
		}
	case reflect.Struct:
		t := rv.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, inline := yamlKey(sf)
			if inline && sf.Type == transformsType {
				for _, k := range rv.Field(i).MapKeys() {
					v.enums(rv.Field(i).MapIndex(k), path)
				}
				continue
			}
			if inline {
				v.enums(rv.Field(i), path)
				continue
			}
			if name == "" {
				continue
			}
			fv, fpath := rv.Field(i), join(path, name)
			if enum := sf.Tag.Get("enum"); enum != "" && fv.Kind() == reflect.String && fv.String() != "" {
				allowed := strings.Split(enum, "|")
				if !slices.Contains(allowed, fv.String()) {
					msg := fmt.Sprintf("%q is not one of %s", fv.String(), strings.Join(allowed, ", "))
					if hint := sf.Tag.Get("hint"); hint != "" {
						msg += ": " + hint
					}
					v.errorf(fpath, "%s", msg)
				}
				continue
			}
			v.enums(fv, fpath)
		}
	case reflect.Slice:
		for i := 0; i < rv.Len(); i++ {
			v.enums(rv.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		for _, k := range rv.MapKeys() {
			v.enums(rv.MapIndex(k), join(path, k.String()))
		}
	}
}

func (v *validator) listenAddr(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(path, "invalid listen address %q: use host:port or :port", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.errorf(path, "invalid port %q", port)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.errorf(path, "listen host %q must be an IP address or localhost", host)
		}
	}
}

// fileReadable checks that a file the config names can be read. Offline,
// an absent file is listed as unchecked; it reports whether the file is
// there to check further.
func (v *validator) fileReadable(path, file string) bool {
	if file == "" {
		return false
	}
	if !v.present(path, file) {
		return false
	}
	f, err := os.Open(v.cfg.Path(file))
	if err != nil {
		v.errorf(path, "cannot read %s: %v", file, errorsWithoutPath(err))
		return false
	}
	f.Close()
	return true
}

// dataReadable is fileReadable for a file that is not part of the
// config: data a component re-reads by itself when it changes (a
// threat feed), so a change to it must not reload the config.
func (v *validator) dataReadable(path, file string) {
	_, err := os.Stat(v.cfg.Path(file))
	if v.offline && errors.Is(err, fs.ErrNotExist) {
		v.cfg.Unchecked = append(v.cfg.Unchecked, path+": file "+file)
		return
	}
	f, err := os.Open(v.cfg.Path(file))
	if err != nil {
		v.errorf(path, "cannot read %s: %v", file, errorsWithoutPath(err))
		return
	}
	f.Close()
}

// present records a file the config reads (see Config.Files) and reports
// whether to check it: false only offline, for a file that is not there.
func (v *validator) present(path, file string) bool {
	v.cfg.files = append(v.cfg.files, v.cfg.Path(file))
	if _, err := os.Stat(v.cfg.Path(file)); v.offline && errors.Is(err, fs.ErrNotExist) {
		v.cfg.Unchecked = append(v.cfg.Unchecked, path+": file "+file)
		return false
	}
	return true
}

// keyPair checks that a certificate and its key can be read, and lists
// them for the check of what they hold (PEMFiles).
func (v *validator) keyPair(path, cert, key string) {
	if strings.HasPrefix(key, "pkcs11:") {
		// a key in a token: the URI is read where the token is (gateway.Check)
		if v.cfg.PKCS11 == nil {
			v.errorf(path+".key_file", "a pkcs11: key needs the pkcs11 section: {module: /path/to/module.so, pin: env:NAME}")
		}
		if v.fileReadable(path+".cert_file", cert) {
			v.cfg.pem = append(v.cfg.pem, PEMFile{Path: path + ".cert_file", Kind: KeyPairFile, File: v.cfg.Path(cert), KeyFile: key})
		}
		return
	}
	c, k := v.fileReadable(path+".cert_file", cert), v.fileReadable(path+".key_file", key)
	if c && k {
		v.cfg.pem = append(v.cfg.pem, PEMFile{Path: path + ".cert_file", Kind: KeyPairFile, File: v.cfg.Path(cert), KeyFile: v.cfg.Path(key)})
	}
}

// pkcs11 checks the module and the settings that name keys in tokens.
func (v *validator) pkcs11() {
	if p := v.cfg.PKCS11; p != nil {
		v.fileReadable("pkcs11.module", p.Module)
	}
	if k := v.cfg.Identity.SigningKey; k != "" {
		switch {
		case !strings.HasPrefix(k, "pkcs11:"):
			v.errorf("identity.signing_key", "signing_key names a key in a token: pkcs11:token=LABEL;object=LABEL")
		case v.cfg.PKCS11 == nil:
			v.errorf("identity.signing_key", "a pkcs11: key needs the pkcs11 section: {module: /path/to/module.so, pin: env:NAME}")
		}
	}
}

// caFile checks that a PEM bundle of CA certificates can be read.
func (v *validator) caFile(path, file string) {
	if v.fileReadable(path, file) {
		v.cfg.pem = append(v.cfg.pem, PEMFile{Path: path, Kind: CABundleFile, File: v.cfg.Path(file)})
	}
}

// A PEMFile is a certificate and its key, a CA bundle or a CRL that the
// config names and validation found readable. What it holds is checked
// by the package that loads it, through a Check.
type PEMFile struct {
	Path    string // the setting: server.tls.certificates[0].cert_file
	Kind    PEMKind
	File    string // resolved
	KeyFile string // resolved; KeyPairFile only
}

// PEMKind says what a PEMFile holds.
type PEMKind uint8

// The kinds of PEMFile.
const (
	KeyPairFile  PEMKind = iota + 1 // a certificate chain, with KeyFile its key
	CABundleFile                    // CA certificates
	CRLFile                         // a certificate revocation list (PEM or DER)
)

// PEMFiles lists the certificates, keys, CA bundles and CRLs the config
// names, in file order of validation.
func (c *Config) PEMFiles() []PEMFile { return slices.Clone(c.pem) }

func (v *validator) server() {
	s := &v.cfg.Server
	for i, a := range s.Listen {
		v.listenAddr(fmt.Sprintf("server.listen[%d]", i), a)
	}
	if t := s.TLS; t != nil {
		if len(t.Listen) == 0 {
			v.errorf("server.tls.listen", "at least one TLS listen address is required")
		}
		for i, a := range t.Listen {
			v.listenAddr(fmt.Sprintf("server.tls.listen[%d]", i), a)
		}
		switch {
		case len(t.Certificates) == 0 && t.ACME == nil:
			v.errorf("server.tls.certificates", "at least one certificate is required, or acme to obtain them")
		case len(t.Certificates) > 0 && t.ACME != nil:
			v.errorf("server.tls.acme", "certificates and acme are exclusive: the listener's certificates come from files or from the CA")
		}
		if t.ACME != nil {
			v.acme("server.tls.acme", t.ACME, len(s.Listen) > 0)
		}
		for i, crt := range t.Certificates {
			v.keyPair(fmt.Sprintf("server.tls.certificates[%d]", i), crt.CertFile, crt.KeyFile)
		}
		switch t.ClientAuth.Mode {
		case "request", "require":
			if t.ClientAuth.CAFile == "" {
				v.errorf("server.tls.client_auth.ca_file", "client_auth mode %s needs ca_file", t.ClientAuth.Mode)
			}
		}
		v.caFile("server.tls.client_auth.ca_file", t.ClientAuth.CAFile)
	}
	if s.HTTPSRedirect && (s.TLS == nil || len(s.TLS.Listen) == 0) {
		v.errorf("server.https_redirect", "https_redirect needs a TLS listener (server.tls.listen)")
	}
	l := &s.Limits
	if l.MaxHeaderBytes != 0 && (l.MaxHeaderBytes < 1<<10 || l.MaxHeaderBytes > 1<<20) {
		v.errorf("server.limits.max_header_bytes", "must be between 1KiB and 1MiB")
	}
	if l.MaxConnectionsPerIP < 0 {
		v.errorf("server.limits.max_connections_per_ip", "must not be negative")
	}
	for i, p := range s.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			v.errorf(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err)
		}
	}
}

// listenersDistinct reports an address bound twice (cleartext, TLS, admin),
// which would otherwise only fail at start with "address already in use".
// Port 0 (pick a free port) may repeat.
func (v *validator) listenersDistinct() {
	type bound struct {
		path string
		port string
		host string
	}
	var all []bound
	add := func(path, addr string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "0" {
			return
		}
		for _, b := range all {
			// An unspecified host (":8080", "0.0.0.0:8080") overlaps every
			// address on that port.
			if b.port == port && (b.host == host || b.host == "" || host == "" || b.host == "0.0.0.0" || host == "0.0.0.0" || b.host == "::" || host == "::") {
				v.errorf(path, "address %s is also bound by %s", addr, b.path)
				return
			}
		}
		all = append(all, bound{path, port, host})
	}
	// A defaulted admin address is added first, so a clash is reported on
	// the line the user wrote.
	adminDefault := !v.cfg.Admin.Disabled && v.cfg.Admin.Listen == ""
	if adminDefault {
		add("admin.listen (default "+DefaultAdminListen+")", DefaultAdminListen)
	}
	s := &v.cfg.Server
	for i, a := range s.Listen {
		add(fmt.Sprintf("server.listen[%d]", i), a)
	}
	if s.TLS != nil {
		for i, a := range s.TLS.Listen {
			add(fmt.Sprintf("server.tls.listen[%d]", i), a)
		}
	}
	if !v.cfg.Admin.Disabled && !adminDefault {
		add("admin.listen", v.cfg.Admin.Listen)
	}
	if p := v.cfg.Portal; p != nil && p.Listen != "" {
		add("portal.listen", p.Listen)
	}
}

// ParsePrefix parses a CIDR or a single address as a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q: use an IP or a CIDR such as 10.0.0.0/8", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (v *validator) admin() {
	a := &v.cfg.Admin
	if a.Disabled {
		return
	}
	addr := a.Listen
	if addr == "" {
		addr = DefaultAdminListen
	}
	v.listenAddr("admin.listen", addr)
	host, _, err := net.SplitHostPort(addr)
	if err == nil && !IsLoopback(host) && !a.Token.IsSet() {
		v.errorf("admin.listen", "admin listener %s is reachable from other machines: set admin.token (env:NAME or file:PATH) or listen on 127.0.0.1", addr)
	}
}

// IsLoopback reports whether a listen host only accepts local connections.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (v *validator) logs() {
	for i, s := range v.cfg.Events.Sinks {
		if s.Settings != nil {
			s.Settings.Validate(&Validation{v: v, Base: fmt.Sprintf("events.sinks[%d]", i), Type: s.Type})
		}
	}
}

var retryOn = map[string]bool{"connect_failure": true, "reset": true, "timeout": true}

func (v *validator) upstream(name string, u *Upstream) {
	base := "upstreams." + name
	if !nameRE.MatchString(name) {
		v.keyErrorf(base, "upstream name %q must be letters, digits, '.', '_' or '-'", name)
	}
	if u == nil {
		v.errorf(base, "upstream %q is empty: it needs targets", name)
		return
	}
	v.loadShedding(base+".load_shedding", u.LoadShedding)
	if len(u.Targets) == 0 {
		v.errorf(base+".targets", "at least one target is required")
	}
	seen := map[string]bool{}
	for i, t := range u.Targets {
		p := fmt.Sprintf("%s.targets[%d]", base, i)
		if err := checkTargetURL(t.URL); err != nil {
			v.errorf(p+".url", "%v", err)
		} else if seen[t.URL] {
			v.errorf(p+".url", "target %s is listed twice; use weight instead", t.URL)
		}
		seen[t.URL] = true
		if t.Weight < 0 || t.Weight > 1000 {
			v.errorf(p+".weight", "weight must be between 1 and 1000")
		}
	}
	if u.HashKey != "" {
		if u.Balancer != "consistent_hash" {
			v.errorf(base+".hash_key", "hash_key only applies to balancer consistent_hash")
		}
		if !validHashKey(u.HashKey) {
			v.errorf(base+".hash_key", "hash_key %q must be header:NAME, cookie:NAME or client_ip", u.HashKey)
		}
	}
	v.upstreamProtocol(base, u)
	if a := u.HealthCheck.Active; a != nil {
		p := base + ".health_check.active"
		switch {
		case u.Protocol == "grpc" && a.Path != "":
			v.errorf(p+".path", "a grpc upstream is checked by the gRPC health checking protocol, not a path: remove path (grpc_service names the service to ask about)")
		case u.Protocol == "grpc":
		case a.GRPCService != "":
			v.errorf(p+".grpc_service", "grpc_service applies to upstreams with protocol: grpc")
		case !strings.HasPrefix(a.Path, "/"):
			v.errorf(p+".path", "path must start with /")
		}
		if a.Interval != 0 && a.Interval.D() < 100_000_000 {
			v.errorf(p+".interval", "interval must be at least 100ms")
		}
		if a.HealthyThreshold < 0 || a.UnhealthyThreshold < 0 {
			v.errorf(p, "thresholds must be positive")
		}
		for i, st := range a.ExpectStatus {
			if st < 100 || st > 599 {
				v.errorf(fmt.Sprintf("%s.expect_status[%d]", p, i), "%d is not an HTTP status", st)
			}
		}
	}
	if p := u.HealthCheck.Passive; p != nil {
		if p.ConsecutiveFailures < 0 {
			v.errorf(base+".health_check.passive.consecutive_failures", "must be positive")
		}
		for i, on := range p.On {
			if on != "connect_failure" && on != "error" && on != "5xx" {
				v.errorf(fmt.Sprintf("%s.health_check.passive.on[%d]", base, i), "%q: use connect_failure, error or 5xx", on)
			}
		}
	}
	r := u.Retries
	if r.Attempts != nil && (*r.Attempts < 0 || *r.Attempts > 5) {
		v.errorf(base+".retries.attempts", "attempts must be between 0 and 5")
	}
	for i, on := range r.On {
		if retryOn[on] {
			continue
		}
		if st, err := strconv.Atoi(on); err == nil && st >= 500 && st <= 599 {
			continue
		}
		v.errorf(fmt.Sprintf("%s.retries.on[%d]", base, i), "%q: use connect_failure, reset, timeout or a status 500-599", on)
	}
	if b := r.Budget; b != nil && (b.Ratio < 0 || b.Ratio > 1 || b.MinPerSecond < 0) {
		v.errorf(base+".retries.budget", "ratio must be within 0-1 and min_per_second not negative")
	}
	if b := u.CircuitBreaker; b != nil {
		if b.FailureRatio < 0 || b.FailureRatio > 1 {
			v.errorf(base+".circuit_breaker.failure_ratio", "must be within 0-1")
		}
		if b.MinRequests < 0 || b.HalfOpenRequests < 0 {
			v.errorf(base+".circuit_breaker", "counts must not be negative")
		}
	}
	if t := u.TLS; t != nil {
		p := base + ".tls"
		v.caFile(p+".ca_file", t.CAFile)
		if (t.CertFile == "") != (t.KeyFile == "") {
			v.errorf(p, "cert_file and key_file go together")
		} else {
			v.keyPair(p, t.CertFile, t.KeyFile)
		}
	}
	if u.MaxIdleConns < 0 {
		v.errorf(base+".max_idle_conns", "must not be negative")
	}
	if m := u.MaxResponseHeaderBytes; m != 0 && (m < 1<<10 || m > 1<<20) {
		v.errorf(base+".max_response_header_bytes", "must be between 1KiB and 1MiB")
	}
}

// upstreamProtocol checks that the targets' schemes fit the protocol.
func (v *validator) upstreamProtocol(base string, u *Upstream) {
	want := ""
	switch u.Protocol {
	case "", "http1", "grpc":
		return
	case "h2":
		want = "https"
	case "h2c":
		want = "http"
	}
	for i, t := range u.Targets {
		if s, _, ok := strings.Cut(t.URL, "://"); ok && s != want {
			v.errorf(fmt.Sprintf("%s.targets[%d].url", base, i), "protocol %s needs %s:// targets (h2 is HTTP/2 over TLS, h2c cleartext HTTP/2)", u.Protocol, want)
		}
	}
}

func checkTargetURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("target %q must be an http:// or https:// URL with a host", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("target %q must be scheme://host:port only; use route rewrite for paths", s)
	}
	return nil
}

func validHashKey(k string) bool {
	if k == "client_ip" {
		return true
	}
	kind, name, ok := strings.Cut(k, ":")
	return ok && (kind == "header" || kind == "cookie") && name != "" && !strings.ContainsAny(name, " :\t")
}

func (v *validator) policy(name string, p *Policy) {
	base := "policies." + name
	if name == PublicPolicy {
		v.keyErrorf(base, "%q is the built-in anonymous policy and cannot be redefined", name)
	}
	if !nameRE.MatchString(name) {
		v.keyErrorf(base, "policy name %q must be letters, digits, '.', '_' or '-'", name)
	}
	if p == nil {
		return
	}
	v.policyAuthenticate(base, p)
	v.policyAuthorize(name, base, p)
	v.policyRateLimits(base, p)
	v.policyConcurrency(base, p)
	v.policyQuota(base, p)
	v.policyGraduated(base, p)
	v.policyBots(base, p)
	v.policyCorrelate(base, p)
	v.policyCORS(base, p)
	v.policyIP(base, p)
	v.policyThreatIntel(base, p)
	v.policySecurityHeaders(base, p)
	v.policyValidate(base, p)
	v.policyWAF(base, p)
	v.policyRequest(base, p)
	v.policyResponse(base, p)
	if p.Validate == nil {
		return
	}
	if limit := v.cfg.Server.Limits.MaxBodyBytes; limit != 0 && p.Validate.MaxBodyBytes > limit {
		v.errorf(base+".validate.max_body_bytes", "%s is above server.limits.max_body_bytes (%s)", p.Validate.MaxBodyBytes, limit)
	}
}

func (v *validator) routes() {
	c := v.cfg
	names := map[string]int{}
	for i, r := range c.Routes {
		base := fmt.Sprintf("routes[%d]", i)
		if r == nil {
			v.errorf(base, "empty route")
			continue
		}
		if r.Name != "" && !nameRE.MatchString(r.Name) {
			v.errorf(base+".name", "route name %q must be letters, digits, '.', '_' or '-'", r.Name)
		}
		if j, dup := names[r.Name]; dup && r.Name != "" {
			v.errorf(base+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
		}
		names[r.Name] = i
		if r.Upstream != "" && c.Upstreams[r.Upstream] == nil {
			v.errorf(base+".upstream", "unknown upstream %q%s", r.Upstream, suggest(r.Upstream, sortedKeys(c.Upstreams)))
		}
		if r.Policy != "" && r.Policy != PublicPolicy && c.Policies[r.Policy] == nil {
			v.errorf(base+".policy", "unknown policy %q%s", r.Policy, suggest(r.Policy, append(sortedKeys(c.Policies), PublicPolicy)))
		}
		v.match(i, r)
		v.rewrite(base, r)
		v.deprecation(base, r)
		v.routeCache(base, r)
		if t := r.Transcode; t != nil {
			// the bindings are read and checked by transcode.Check
			v.fileReadable(base+".transcode.descriptor_set", t.DescriptorSet)
		}
	}
}

func suggest(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	if len(candidates) > 0 {
		return "; defined: " + strings.Join(candidates, ", ")
	}
	return ""
}

// match checks what a route matches on as data; its hosts and path
// patterns are parsed, and checked against other routes, by the router
// (route.Check).
func (v *validator) match(i int, r *Route) {
	base := fmt.Sprintf("routes[%d].match", i)
	if len(r.Match.Paths) == 0 {
		v.errorf(base+".paths", "at least one path pattern is required")
	}
	for j, m := range r.Match.Methods {
		if !KnownMethod(m) {
			v.errorf(fmt.Sprintf("%s.methods[%d]", base, j), "unknown method %q: use upper-case GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE or CONNECT", m)
		}
	}
	for _, name := range sortedKeys(r.Match.Headers) {
		if !ValidHeaderName(name) {
			v.keyErrorf(base+".headers."+name, "invalid header name %q", name)
		}
	}
	for _, name := range sortedKeys(r.Match.AcceptParams) {
		if !mediaToken(name) || name != strings.ToLower(name) || name == "q" {
			v.keyErrorf(base+".accept_params."+name, "invalid media-type parameter name %q: use a lower-case token such as version (q is the quality weight, not a parameter)", name)
		}
		if !mediaToken(r.Match.AcceptParams[name]) {
			v.errorf(base+".accept_params."+name, "parameter value %q must be a token such as 2 or 2024-06-01 (letters, digits and !#$%%&'*+-.^_`|~)", r.Match.AcceptParams[name])
		}
	}
}

// mediaToken reports whether s is an RFC 9110 token, the form of a
// media-type parameter name, and the form its value is compared in.
func mediaToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Methods are the request methods a route, a role or CORS may name: the
// methods of RFC 9110 and PATCH.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// KnownMethod reports whether m is one of Methods.
func KnownMethod(m string) bool { return slices.Contains(Methods, m) }

// ValidHeaderName reports whether s may name a header the config sets or
// reads: letters, digits, '-' and '_'.
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return http.CanonicalHeaderKey(s) != ""
}

// ValidHostName reports whether s is a DNS host name: dot-separated
// labels of letters, digits and inner hyphens, 63 bytes each, 253 in all.
func ValidHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i] | 0x20; !(c >= 'a' && c <= 'z' || label[i] >= '0' && label[i] <= '9' || label[i] == '-') {
				return false
			}
		}
	}
	return true
}

// acme checks the managed certificates' settings.
func (v *validator) acme(p string, a *ACME, cleartext bool) {
	if !a.AcceptTerms {
		v.errorf(p+".accept_terms", "the CA refuses an account whose holder has not accepted its terms of service: read them (the directory's meta.termsOfService) and set accept_terms: true")
	}
	for i, d := range a.Domains {
		if strings.Contains(d, "*") || net.ParseIP(d) != nil || !ValidHostName(d) {
			v.errorf(fmt.Sprintf("%s.domains[%d]", p, i), "%q is not a host name a certificate can be obtained for here (no wildcards, no IP addresses)", d)
		}
	}
	if a.CA != "" {
		if u, err := url.Parse(a.CA); err != nil || u.Host == "" || u.Scheme != "https" {
			v.errorf(p+".ca", "ca must be the https URL of the CA's ACME directory")
		}
	}
	if a.CARoot != "" {
		v.caFile(p+".ca_root", a.CARoot)
	}
	for i, c := range a.Challenges {
		switch {
		case c == "http-01" && !cleartext:
			v.errorf(fmt.Sprintf("%s.challenges[%d]", p, i), "http-01 is answered on a cleartext listener: add server.listen (port 80) or offer tls-alpn-01 only")
		case c != "http-01" && c != "tls-alpn-01":
			v.errorf(fmt.Sprintf("%s.challenges[%d]", p, i), "%q is not one of http-01, tls-alpn-01", c)
		}
	}
	if a.RenewalRatio < 0 || a.RenewalRatio >= 1 {
		v.errorf(p+".renewal_ratio", "renewal_ratio is a fraction of the lifetime, between 0 and 1")
	}
}

// rewrite checks a route's rewrite as data; the router checks its host
// and that a path template uses only parameters every pattern captures.
func (v *validator) rewrite(base string, r *Route) {
	rw := r.Rewrite
	if rw == nil {
		return
	}
	p := base + ".rewrite"
	if rw.StripPrefix != "" && (!strings.HasPrefix(rw.StripPrefix, "/") || strings.HasSuffix(rw.StripPrefix, "/") && rw.StripPrefix != "/") {
		v.errorf(p+".strip_prefix", "strip_prefix must start with / and not end with /")
	}
	if rw.AddPrefix != "" && (!strings.HasPrefix(rw.AddPrefix, "/") || strings.HasSuffix(rw.AddPrefix, "/")) {
		v.errorf(p+".add_prefix", "add_prefix must start with / and not end with /")
	}
	if rw.Path == "" {
		return
	}
	if rw.StripPrefix != "" || rw.AddPrefix != "" {
		v.errorf(p+".path", "path replaces the whole path; do not combine it with strip_prefix or add_prefix")
	}
	if _, err := TemplateParams(rw.Path); err != nil {
		v.errorf(p+".path", "%v", err)
	}
}

// routeCache checks a route's response cache.
func (v *validator) routeCache(base string, r *Route) {
	c := r.Cache
	if c == nil {
		return
	}
	p := base + ".cache"
	for j, h := range c.KeyHeaders {
		if !ValidHeaderName(h) {
			v.errorf(fmt.Sprintf("%s.key_headers[%d]", p, j), "invalid header name %q", h)
		}
	}
	if len(r.Match.Methods) > 0 && !slices.Contains(r.Match.Methods, "GET") {
		v.errorf(p, "the cache keeps GET responses, and route %s takes no GET: add GET to match.methods or remove cache", r.Name)
	}
}

// deprecation checks a route's end-of-life dates and links.
func (v *validator) deprecation(base string, r *Route) {
	d := r.Deprecation
	if d == nil {
		return
	}
	p := base + ".deprecation"
	if !d.Sunset.IsZero() && !d.Sunset.After(d.Since.Time) {
		v.errorf(p+".sunset", "sunset (%s) must come after since (%s): a route is deprecated first, then retired",
			d.Sunset.UTC().Format(time.RFC3339), d.Since.UTC().Format(time.RFC3339))
	}
	if d.Link != "" && !LinkTarget(d.Link, false) {
		v.errorf(p+".link", "link must be an https URL (http for localhost) without spaces, quotes or angle brackets")
	}
	if d.Successor != "" && !LinkTarget(d.Successor, true) {
		v.errorf(p+".successor", "successor must be an https URL (http for localhost) or a path starting with /, without spaces, quotes or angle brackets")
	}
}

// LinkTarget reports whether s may be the target of a Link header the
// gateway sends (RFC 8288): an https URL (http for a loopback host), or
// with path true also an absolute path; printable ASCII without the
// characters that would end the <...> or the header.
func LinkTarget(s string, path bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' {
			return false
		}
	}
	if path && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && IsLoopback(u.Hostname())
}

// TemplateParams returns the {param} names of a rewrite path template.
func TemplateParams(t string) ([]string, error) {
	if !strings.HasPrefix(t, "/") {
		return nil, fmt.Errorf("path template %q must start with /", t)
	}
	if strings.ContainsAny(t, "?#") {
		return nil, fmt.Errorf("path template %q must be a path only: the query is passed through as sent", t)
	}
	var names []string
	rest := t
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return nil, fmt.Errorf("path template %q has an unmatched }", t)
			}
			return names, nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("path template %q has an unclosed {", t)
		}
		name := rest[i+1 : i+j]
		if name == "" || strings.ContainsAny(name, "{/ ") {
			return nil, fmt.Errorf("path template %q has an invalid parameter {%s}", t, name)
		}
		names = append(names, name)
		rest = rest[i+j+1:]
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
