package guard

import "strings"

// GatewayCookiePrefix begins the name of every cookie the gateway sets
// (the bot-challenge pass and solution, the portal's and the dashboard's
// CSRF and session cookies). Browsers send cookies by host, whatever the
// port, so the dashboard's session reaches the traffic listener too:
// these cookies are the gateway's, never an upstream's, and are removed
// from what is forwarded. The prefix is reserved; an upstream cannot use
// it for cookies of its own.
const GatewayCookiePrefix = "rampart_"

// StripGatewayCookies returns the Cookie header values without the
// gateway's own cookies (names starting with GatewayCookiePrefix, in any
// case), and whether it changed anything. Values that hold none are
// returned as they are, unallocated; a value left empty is dropped.
func StripGatewayCookies(values []string) ([]string, bool) {
	i := 0
	for ; i < len(values); i++ {
		if containsFold(values[i], GatewayCookiePrefix) {
			break
		}
	}
	if i == len(values) {
		return values, false
	}
	out := make([]string, 0, len(values))
	out = append(out, values[:i]...)
	for _, v := range values[i:] {
		if !containsFold(v, GatewayCookiePrefix) {
			out = append(out, v)
			continue
		}
		// A pair kept is kept byte for byte, so the upstream's parser
		// reads it as it would have; the name is trimmed of any white
		// space for the comparison, more than parsers trim.
		var kept []string
		for pair := range strings.SplitSeq(v, ";") {
			name, _, _ := strings.Cut(pair, "=")
			if strings.TrimSpace(pair) == "" || hasPrefixFold(strings.TrimSpace(name), GatewayCookiePrefix) {
				continue
			}
			kept = append(kept, pair)
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, ";"))
		}
	}
	return out, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if (s[i]|0x20) == sub[0] && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
