package guard

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/problem"
)

// Underscores is what the gateway does with a request header whose name
// holds an underscore (and folds onto no header the gateway owns).
type Underscores uint8

const (
	// UnderscoresDrop removes the header, as nginx does by default.
	UnderscoresDrop Underscores = iota
	// UnderscoresRefuse answers 400.
	UnderscoresRefuse
	// UnderscoresPass sends it upstream.
	UnderscoresPass
)

// ParseUnderscores reads server.headers.underscores; "" is drop.
func ParseUnderscores(s string) (Underscores, bool) {
	switch s {
	case "", "drop":
		return UnderscoresDrop, true
	case "refuse":
		return UnderscoresRefuse, true
	case "pass":
		return UnderscoresPass, true
	}
	return 0, false
}

// clientIPHeaders carry a client address or client certificate that a
// CDN, load balancer or sidecar in front of the upstream sets and the
// upstream believes. The gateway passes them only from a trusted proxy.
var clientIPHeaders = []string{
	"Cf-Connecting-Ip", "Cf-Connecting-Ipv6", "Fastly-Client-Ip", "Client-Ip", "X-Original-Forwarded-For",
	"X-Azure-Clientip", "X-Appengine-User-Ip", "X-Forwarded-Client-Cert", "X-Client-Cert", "X-Ssl-Client-Cert",
	"X-Ssl-Client-Dn", "X-Ssl-Client-Verify", "Ssl-Client-Cert", "X-Arr-Clientcert",
}

// clientIPPrefixes start names with the same role: Envoy believes its
// x-envoy-* headers (external address, original path) from downstream.
var clientIPPrefixes = []string{"X-Envoy-"}

// singletons are request headers that may appear once: a proxy in front
// may have checked one copy while the upstream reads the other.
var singletons = []string{"Authorization", "Proxy-Authorization", "Host", "Content-Type", "Content-Length", "Transfer-Encoding"}

// HeaderRules are stage 2's rules for request header names and counts,
// compiled once per config: singletons appear once, the Host (or HTTP/2
// :authority) is a host[:port], and a name that differs from a header the
// gateway owns, strips or frames with only in its separators (X_Forwarded_For,
// Transfer---Encoding) is refused: CGI, PHP, Rack and WSGI servers read
// X_Forwarded_For and X-Forwarded-For as one variable,
// HTTP_X_FORWARDED_FOR, and other servers collapse or ignore separators.
type HeaderRules struct {
	Underscores Underscores
	owned       map[string]bool // squashed names
}

// NewHeaderRules returns the rules; owned adds names the config gives the
// gateway (the headers API keys are read from).
func NewHeaderRules(u Underscores, owned ...string) *HeaderRules {
	h := &HeaderRules{Underscores: u, owned: map[string]bool{}}
	for _, list := range [][]string{HopByHop, spoofable, clientIPHeaders, singletons, owned,
		{"X-Request-Id", "Traceparent", "Tracestate", "Cookie", "Upgrade", "Sec-Websocket-Key"}} {
		for _, n := range list {
			var buf [maxSquashed]byte
			h.owned[string(squash(buf[:0], n))] = true
		}
	}
	return h
}

// maxSquashed bounds the names compared with owned ones; every owned name
// is shorter.
const maxSquashed = 64

// squash appends name in lower case without '-' and '_': names that
// differ only in case and separators squash alike.
func squash(b []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '-' || c == '_':
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return b
}

// oddSeparators reports a name with an underscore, a doubled separator,
// or one at either end: the names servers disagree on.
func oddSeparators(name string) bool {
	if name == "" || name[0] == '-' || name[len(name)-1] == '-' || strings.IndexByte(name, '_') >= 0 {
		return true
	}
	return strings.Contains(name, "--")
}

// owns reports whether a name with odd separators stands for a header the
// gateway owns.
func (h *HeaderRules) owns(name string) bool {
	if len(name) > maxSquashed {
		return false
	}
	var buf [maxSquashed]byte
	sq := squash(buf[:0], name)
	if h.owned[string(sq)] {
		return true
	}
	for _, p := range []string{"xrampart", "xforwarded", "xenvoy"} {
		if len(sq) > len(p) && string(sq[:len(p)]) == p {
			return true
		}
	}
	return false
}

// HeaderRefusal is why Check refused a request.
type HeaderRefusal struct {
	Type           problem.Type
	Reason, Detail string
}

// Check applies the rules to r's header, removing the underscore names
// the rules drop; it returns why the request is refused, or nil.
func (h *HeaderRules) Check(r *http.Request) *HeaderRefusal {
	if !ValidHost(r.Host) {
		return &HeaderRefusal{problem.MalformedRequest, "invalid_host", "The host " + strconv.Quote(problem.Clip(r.Host, 60)) +
			" (the Host header, or :authority on HTTP/2) is not a valid host[:port]: a name, an IPv4 address or a bracketed IPv6 address, then an optional port. Send the name the gateway serves."}
	}
	for _, name := range singletons {
		if len(r.Header[name]) > 1 {
			return &HeaderRefusal{problem.MalformedRequest, "duplicate_header", "The request has more than one " + name +
				" header. Send exactly one: a proxy in front may have checked one copy while the upstream reads another."}
		}
	}
	if v, ok := r.Header["Host"]; ok && r.ProtoMajor >= 2 && (len(v) != 1 || v[0] != r.Host) {
		return &HeaderRefusal{problem.MalformedRequest, "authority_host_mismatch", "The request's :authority and Host header name different hosts. Send :authority alone, or a Host equal to it."}
	}
	for name := range r.Header {
		if !oddSeparators(name) {
			continue
		}
		if h.owns(name) {
			return &HeaderRefusal{problem.BadRequest, "ambiguous_header_name", "The header name " + strconv.Quote(problem.Clip(name, 60)) +
				" differs from a header the gateway sets or checks only in its separators ('_' for '-', or doubled), and many servers read the two as one. Send the header with single '-' between words, or leave it out."}
		}
		if strings.IndexByte(name, '_') < 0 {
			continue
		}
		switch h.Underscores {
		case UnderscoresRefuse:
			return &HeaderRefusal{problem.BadRequest, "underscore_header", "The header name " + strconv.Quote(problem.Clip(name, 60)) +
				" holds an underscore, which this gateway refuses (server.headers.underscores: refuse). Use '-' between words."}
		case UnderscoresDrop:
			delete(r.Header, name)
		}
	}
	return nil
}

// ValidHost reports whether host is empty (HTTP/1.0 may omit it) or a
// host[:port] in the strict sense of RFC 3986 as servers route on it: a
// registered name of letters, digits, '-', '.' and '_', an IPv4 address,
// or an IPv6 address in brackets, then an optional port of up to five
// digits. Anything else ('/', '@', '\', '%', a second ':') is refused:
// the gateway would forward it as X-Forwarded-Host.
func ValidHost(host string) bool {
	if host == "" {
		return true
	}
	name, port := host, ""
	if host[0] == '[' {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return false
		}
		if a, err := netip.ParseAddr(host[1:end]); err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		name, port = "", host[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			if port == "" {
				return false
			}
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i+1:]
		if port == "" {
			return false
		}
	}
	if len(port) > 5 {
		return false
	}
	for _, c := range []byte(port) {
		if c < '0' || c > '9' {
			return false
		}
	}
	if host[0] == '[' {
		return true
	}
	if name == "" || len(name) > 253 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
