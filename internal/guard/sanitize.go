package guard

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/rampart-gw/rampart/internal/reqctx"
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
// place, and the client-address and client-certificate headers of CDNs
// and sidecars (CF-Connecting-IP, X-Envoy-*, X-Forwarded-Client-Cert ...)
// unless the peer is a trusted proxy. It returns the upgrade protocol to
// pass on ("websocket") when the request is a valid WebSocket upgrade,
// else "". The connection's own fields it removes (hop-by-hop ones, those
// Connection names, and Transfer-Encoding, which net/http keeps in
// Request.TransferEncoding) are recorded in st.ClientHopByHop as the
// client sent them, for the WAF.
func Sanitize(r *http.Request, trustedPeer bool, st *reqctx.State) (upgrade string) {
	h := r.Header
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 && r.Method == http.MethodGet &&
		headerHasToken(h, "Connection", "upgrade") && strings.EqualFold(h.Get("Upgrade"), "websocket") {
		upgrade = "websocket"
	}
	if len(r.TransferEncoding) > 0 {
		st.AddClientHopByHop("Transfer-Encoding", r.TransferEncoding)
	}
	for _, k := range HopByHop {
		if v, ok := h[k]; ok {
			st.AddClientHopByHop(k, v)
			delete(h, k)
		}
	}
	for _, f := range st.ClientHopByHop {
		if f.Name != "Connection" {
			continue
		}
		for _, v := range f.Values {
			for name := range strings.SplitSeq(v, ",") {
				name = http.CanonicalHeaderKey(strings.TrimSpace(name))
				// A client must not be able to strip the gateway's own
				// headers or trace context by naming them in Connection.
				if name == "" || name == "X-Request-Id" || name == "Traceparent" {
					continue
				}
				if v, ok := h[name]; ok {
					st.AddClientHopByHop(name, v)
					delete(h, name)
				}
			}
		}
	}
	for _, k := range spoofable {
		delete(h, k)
	}
	if !trustedPeer {
		for _, k := range clientIPHeaders {
			delete(h, k)
		}
	}
	for k := range h {
		if len(k) >= len(IdentityPrefix) && strings.EqualFold(k[:len(IdentityPrefix)], IdentityPrefix) {
			delete(h, k)
			continue
		}
		if !trustedPeer {
			for _, p := range clientIPPrefixes {
				if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
					delete(h, k)
				}
			}
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

// PathFlags are what NormalizePath found that a route may accept.
type PathFlags struct {
	// EncodedSlash: an encoded slash or backslash (%2F, %5C), kept
	// encoded.
	EncodedSlash bool
	// Parameters: a segment with a ';' parameter (/a;v=1/b), which
	// servers resolve differently (Tomcat, Jetty and Spring drop it
	// before routing); kept, or stripped when NormalizePath was asked to.
	Parameters bool
}

// NormalizePath puts the request path into the one form that routing,
// authorization, the WAF's view of arguments and the upstream all see:
// percent-encoded unreserved characters decoded (%41 is A, %7E is ~),
// other escapes in upper case, dot segments resolved and empty segments
// (//) merged (RFC 3986 §6.2.2). r.URL.Path and RawPath are rewritten in
// place; the proxy sends the normalised path. With stripParams, the ';'
// parameters of every segment are removed first.
//
// Some paths are refused, with a message saying why, because a server
// behind the gateway could resolve them to another path than the router
// did: a NUL byte (encoded or not), a ".." that would climb above the
// root, an escaped escape (%252e: a server that decodes twice sees %2e,
// then "."), bytes that decode to invalid UTF-8 (%c0%ae is an overlong
// "."), and a dot segment behind a parameter ("..;", "..;x=1", ".%3B").
// An encoded slash or a backslash, encoded or not (%2F, %5C: some servers
// take a backslash for a slash), is kept encoded, never turned into a
// separator, and reported in the flags with path parameters: the route
// decides whether it accepts them.
//
// A path already in normal form, nearly every request, costs one scan
// and no allocation.
func NormalizePath(r *http.Request, stripParams bool) (flags PathFlags, msg string) {
	u := r.URL
	if u.Path == "" || u.Path[0] != '/' {
		if r.Method == http.MethodOptions && r.RequestURI == "*" {
			return flags, ""
		}
		return flags, "The request path must start with /."
	}
	esc := u.EscapedPath()
	if pathIsNormal(esc) {
		return flags, ""
	}
	// Pass 1: escapes.
	b := make([]byte, 0, len(esc))
	for i := 0; i < len(esc); i++ {
		c := esc[i]
		switch c {
		case 0:
			return flags, "The path contains a NUL byte."
		case '%':
			if i+2 >= len(esc) || unhex(esc[i+1]) < 0 || unhex(esc[i+2]) < 0 {
				return flags, "The path contains a % that does not start an escape such as %20."
			}
			v := byte(unhex(esc[i+1])<<4 | unhex(esc[i+2]))
			i += 2
			switch {
			case v == 0:
				return flags, "The path contains an encoded NUL byte (%00)."
			case v == '/' || v == '\\':
				flags.EncodedSlash = true
				b = append(b, '%', upperHex[v>>4], upperHex[v&15])
			case unreserved(v):
				b = append(b, v)
			default:
				b = append(b, '%', upperHex[v>>4], upperHex[v&15])
			}
		default:
			b = append(b, c)
		}
	}
	// Pass 2: segments. b starts with /.
	segs := make([]string, 0, 8)
	trailing := false
	for seg := range strings.SplitSeq(string(b[1:]), "/") {
		if p := paramStart(seg); p >= 0 {
			if name := seg[:p]; name == "." || name == ".." {
				return flags, "The path holds a dot segment behind a ';' parameter (\"" + name + ";\"), which servers that drop parameters resolve as \"" + name + "\". Send the resolved path."
			}
			if seg[p] == ';' {
				flags.Parameters = true
				if stripParams {
					seg = seg[:p]
				}
			}
		}
		trailing = false
		switch seg {
		case "", ".":
			trailing = true
		case "..":
			if len(segs) == 0 {
				return flags, "The path climbs above the root with \"..\"; send the resolved path."
			}
			segs = segs[:len(segs)-1]
			trailing = true
		default:
			segs = append(segs, seg)
		}
	}
	norm := "/" + strings.Join(segs, "/")
	if trailing && len(segs) > 0 {
		norm += "/"
	}
	// Looked for in what is sent, not in what came: an escape that
	// decodes to a hex digit can complete one (%25%32e becomes %252e).
	if hasEscapedEscape(norm) {
		return flags, "The path contains an escaped escape (such as %252e or %252f), which a server that decodes twice reads as another path. Send each character escaped once."
	}
	path, err := url.PathUnescape(norm)
	if err != nil {
		return flags, "The path is not a valid percent-encoded path."
	}
	if !utf8.ValidString(path) {
		return flags, "The path decodes to bytes that are not valid UTF-8 (an overlong encoding such as %c0%ae hides a \".\"). Percent-encode the UTF-8 of each character."
	}
	u.Path, u.RawPath = path, ""
	if u.EscapedPath() != norm {
		u.RawPath = norm
	}
	return flags, ""
}

// hasEscapedEscape reports an escaped '%' followed by two hex digits in
// an escaped path (pass 1 writes every escape in upper case): a server
// that decodes twice reads a character there that was never escaped once.
func hasEscapedEscape(p string) bool {
	for i := 0; ; i += 3 {
		j := strings.Index(p[i:], "%25")
		if j < 0 {
			return false
		}
		i += j
		if i+4 < len(p) && unhex(p[i+3]) >= 0 && unhex(p[i+4]) >= 0 {
			return true
		}
	}
}

// paramStart returns the index of the first ';' or encoded ';' (%3B) in
// a segment, or -1.
func paramStart(seg string) int {
	semi := strings.IndexByte(seg, ';')
	enc := strings.Index(seg, "%3B")
	switch {
	case enc >= 0 && (semi < 0 || enc < semi):
		return enc
	default:
		return semi
	}
}

const upperHex = "0123456789ABCDEF"

// pathIsNormal reports whether an escaped path needs no normalising: no
// escape, backslash, empty or dot segment.
func pathIsNormal(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', ';', 0:
			return false
		case '/':
			rest := p[i+1:]
			if strings.HasPrefix(rest, "/") || rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
				return false
			}
		}
	}
	return true
}

// unreserved reports RFC 3986 unreserved characters, which an escape
// never needs to hide.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
