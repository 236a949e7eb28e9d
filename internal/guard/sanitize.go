package guard

import (
	"net/http"
	"strings"
)

// spoofable are request headers that carry claims only the gateway may
// make: client address, original URL, method overrides. Inbound copies
// are always removed (X-Original-URL and method overrides let a client
// reach a path or method other than the one routed and authorised).
var spoofable = []string{
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Prefix",
	"X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "Forwarded", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip",
	"X-Cluster-Client-Ip", "X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Http-Method-Override",
	"X-Http-Method", "X-Method-Override", "X-Request-Start",
}

// IdentityPrefix starts every header the gateway sets for upstreams about
// the caller's identity; inbound ones are always removed.
const IdentityPrefix = "X-Rampart-"

// HopByHop are connection-specific headers (RFC 9110 §7.6.1), never
// forwarded in either direction.
var HopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// Sanitize removes hop-by-hop, spoofable and identity headers from h in
// place. It returns the upgrade protocol to pass on ("websocket") when the
// request is a valid WebSocket upgrade, else "".
func Sanitize(r *http.Request) (upgrade string) {
	h := r.Header
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 && r.Method == http.MethodGet &&
		headerHasToken(h, "Connection", "upgrade") && strings.EqualFold(h.Get("Upgrade"), "websocket") {
		upgrade = "websocket"
	}
	if conn := h["Connection"]; len(conn) > 0 {
		for _, v := range conn {
			for name := range strings.SplitSeq(v, ",") {
				name = http.CanonicalHeaderKey(strings.TrimSpace(name))
				// A client must not be able to strip the gateway's own
				// headers or trace context by naming them in Connection.
				if name != "" && name != "X-Request-Id" && name != "Traceparent" {
					delete(h, name)
				}
			}
		}
	}
	for _, k := range HopByHop {
		delete(h, k)
	}
	for _, k := range spoofable {
		delete(h, k)
	}
	for k := range h {
		if len(k) >= len(IdentityPrefix) && strings.EqualFold(k[:len(IdentityPrefix)], IdentityPrefix) {
			delete(h, k)
		}
	}
	if upgrade == "" {
		// Sec-WebSocket-* without an upgrade means nothing upstream.
		delete(h, "Sec-Websocket-Key")
	}
	return upgrade
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// HeaderBytes returns the size of the request line and headers as sent
// on HTTP/1.1 (name: value\r\n per field).
func HeaderBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	n += len(r.Host) + 8 // Host: is carried outside Header
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// PathProblem explains why a path is not canonical, or returns "" when it
// is. Non-canonical paths are refused rather than normalised: a gateway
// and an upstream that normalise differently disagree on which resource
// was authorised (path confusion).
func PathProblem(r *http.Request) string {
	p := r.URL.Path
	if p == "" || p[0] != '/' {
		if r.Method == http.MethodOptions && r.RequestURI == "*" {
			return ""
		}
		return "The request path must start with /."
	}
	raw := r.URL.RawPath
	if raw == "" {
		raw = r.URL.EscapedPath()
	}
	if containsFold(raw, "%2f") || containsFold(raw, "%5c") {
		return "The path contains an encoded slash or backslash (%2F, %5C); send the path unencoded."
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case 0:
			return "The path contains a NUL byte."
		case '\\':
			return "The path contains a backslash; use / to separate segments."
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return "The path contains an empty segment (//); remove the duplicate slash."
			}
			rest := p[i+1:]
			if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
				return "The path contains a dot segment (. or ..); send the resolved path."
			}
		}
	}
	return ""
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
