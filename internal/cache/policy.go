package cache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// directives are the parsed Cache-Control directives of a message
// (RFC 9111 §5.2): names lower-cased, values unquoted; a directive that
// appears twice keeps its first value.
type directives map[string]string

func parseCacheControl(h http.Header) directives {
	vs := h["Cache-Control"]
	if len(vs) == 0 {
		return nil
	}
	d := directives{}
	for _, line := range vs {
		for part := range strings.SplitSeq(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if _, seen := d[name]; !seen {
				d[name] = strings.Trim(strings.TrimSpace(value), `"`)
			}
		}
	}
	return d
}

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// seconds is a delta-seconds directive's value; ok is false when absent
// or malformed (a malformed one counts as absent).
func (d directives) seconds(name string) (time.Duration, bool) {
	v, ok := d[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(min(n, 1<<31)) * time.Second, true
}

// storableStatus are the statuses a response may be stored with here:
// those RFC 9110 §15.1 calls heuristically cacheable, less 206 (ranges are
// not stored) and the 405, 414 and 501 that a gateway answers itself.
var storableStatus = []int{200, 203, 204, 300, 301, 308, 404, 410}

// decision is what the stage makes of a response.
type decision struct {
	store  bool
	fresh  time.Duration
	reason string // why not, for Cache-Status's detail
}

// storable decides whether a response may be kept (RFC 9111 §3 for a
// shared cache, with the gateway's stricter rules), and for how long.
// authenticated says the request carried a caller's credentials; shared
// that the entry would serve every caller.
func storable(status int, h http.Header, now time.Time, ttl time.Duration, authenticated, shared bool) decision {
	if !slices.Contains(storableStatus, status) {
		return decision{reason: "status"}
	}
	if len(h["Set-Cookie"]) > 0 {
		return decision{reason: "set-cookie"} // never: a cookie is one client's
	}
	cc := parseCacheControl(h)
	switch {
	case cc.has("no-store"):
		return decision{reason: "no-store"}
	case cc.has("private"):
		return decision{reason: "private"}
	case cc.has("no-cache"):
		return decision{reason: "no-cache"} // stored only to be revalidated each time: not kept
	}
	for _, v := range h.Values("Vary") {
		if strings.TrimSpace(v) == "*" {
			return decision{reason: "vary-star"}
		}
	}
	if shared && authenticated && !cc.has("public") && !cc.has("s-maxage") && !cc.has("must-revalidate") {
		// RFC 9111 §3.5: a shared cache keeps a response to an
		// authenticated request only when the origin says it may.
		return decision{reason: "authenticated"}
	}
	fresh, explicit := freshness(cc, h, now)
	if !explicit {
		fresh = ttl
	}
	if fresh <= 0 {
		return decision{reason: "stale"}
	}
	return decision{store: true, fresh: fresh}
}

// freshness is a response's freshness lifetime as its origin gave it
// (RFC 9111 §4.2.1): s-maxage, max-age, then Expires less Date; explicit
// is false when it gave none.
func freshness(cc directives, h http.Header, now time.Time) (time.Duration, bool) {
	if d, ok := cc.seconds("s-maxage"); ok {
		return d, true
	}
	if d, ok := cc.seconds("max-age"); ok {
		return d, true
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			return 0, true // an invalid Expires means already expired
		}
		date := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			date = d
		}
		return t.Sub(date), true
	}
	return 0, false
}

// upstreamAge is the Age the upstream reported, if any (RFC 9111 §5.1).
func upstreamAge(h http.Header) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(h.Get("Age")), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(min(n, 1<<31)) * time.Second
}
