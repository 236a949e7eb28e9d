// Package guard holds the request-path checks that need no identity:
// sanitising (client IP, spoofable and hop-by-hop headers, canonical
// paths, header size) and body guards.
package guard

import (
	"net/netip"
	"strings"
)

// Trusted is a set of proxy prefixes whose X-Forwarded-For is believed.
type Trusted []netip.Prefix

// Contains reports whether a is a trusted proxy.
func (t Trusted) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client: the peer itself unless the
// peer is a trusted proxy, else the rightmost X-Forwarded-For hop that is
// not a trusted proxy (hops left of it are client-supplied and may be
// forged). A malformed hop stops the walk at the last good address.
func ClientIP(peer netip.Addr, xff []string, trusted Trusted) netip.Addr {
	peer = peer.Unmap()
	if len(trusted) == 0 || len(xff) == 0 || !trusted.Contains(peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for {
			hop := v
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				v = ""
			}
			a, ok := parseHop(hop)
			if !ok {
				return client
			}
			client = a
			if !trusted.Contains(a) {
				return a
			}
			if v == "" {
				break
			}
		}
	}
	return client
}

// parseHop parses one X-Forwarded-For element: an IP, possibly with a
// port or in brackets, surrounded by optional whitespace.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a, true
		}
	}
	return netip.Addr{}, false
}
