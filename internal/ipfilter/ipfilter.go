// Package ipfilter is stage 4 of the request path: a policy's address
// allow and deny lists (CIDR) and its country rules, looked up in a
// MaxMind-format database. It runs on the client address the sanitiser
// derived (trusted proxies only), before CORS, bots and authentication.
package ipfilter

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Countries looks up an address's ISO 3166-1 country code; "" when the
// database does not know it.
type Countries interface {
	Country(ip netip.Addr) (string, error)
}

// DB is a MaxMind-format database (GeoLite2/GeoIP2 Country or City, or
// any with country.iso_code).
type DB struct{ r *maxminddb.Reader }

// Open opens the database at path.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// Close releases the database.
func (d *DB) Close() error { return d.r.Close() }

// Country implements Countries.
func (d *DB) Country(ip netip.Addr) (string, error) {
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	if err := d.r.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return "", err
	}
	return rec.Country.ISOCode, nil
}

// ASN looks up an address's autonomous system in an ASN database
// (GeoLite2-ASN): its number, 0 when the database places the address in
// none, and its organisation.
func (d *DB) ASN(ip netip.Addr) (uint32, string, error) {
	var rec struct {
		Number uint32 `maxminddb:"autonomous_system_number"`
		Org    string `maxminddb:"autonomous_system_organization"`
	}
	if err := d.r.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return 0, "", err
	}
	return rec.Number, rec.Org, nil
}

// Stage is one policy's address and country rules.
type Stage struct {
	allow, deny []netip.Prefix
	geo         Countries
	countries   map[string]bool // allowed (allowList) or denied
	allowList   bool
	unknownOK   bool
}

// New compiles a policy's ip and geo sections (validated, defaults
// applied); geo is the gateway's database, nil when none is configured.
func New(ip *config.IPRules, g *config.GeoRules, geo Countries) *Stage {
	s := &Stage{geo: geo}
	if ip != nil {
		s.allow, s.deny = prefixes(ip.Allow), prefixes(ip.Deny)
	}
	if g != nil {
		s.countries = map[string]bool{}
		list := g.Deny
		if len(g.Allow) > 0 {
			list, s.allowList = g.Allow, true
		}
		for _, c := range list {
			s.countries[c] = true
		}
		s.unknownOK = g.Unknown == "allow"
	}
	return s
}

func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range list {
		if p, err := config.ParsePrefix(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []netip.Prefix, ip netip.Addr) bool {
	return slices.ContainsFunc(list, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// Name names the stage in traces and docs/architecture.md (stage 4).
func (s *Stage) Name() string { return "ip_filter" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		ip := st.ClientIP.Unmap()
		if contains(s.deny, ip) || (len(s.allow) > 0 && !contains(s.allow, ip)) {
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.AddressDenied, Reason: "ip_denied", Stage: "ip", Rule: "ip",
				Detail: "Requests from this address are not accepted here. If that is a mistake, give the API operator the request id."})
			return
		}
		if s.countries != nil {
			if ok, country := s.country(ip); !ok {
				where := "an unknown location"
				if country != "" {
					where = country
				}
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.AddressDenied, Reason: "geo_denied", Stage: "ip", Rule: "geo",
					Detail: "Requests from " + where + " are not accepted here. If that is a mistake, give the API operator the request id."})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// country applies the country rules; it returns the country it found.
func (s *Stage) country(ip netip.Addr) (bool, string) {
	c := ""
	if s.geo != nil {
		c, _ = s.geo.Country(ip) // an unreadable record is an unknown country
	}
	if c == "" {
		return s.unknownOK, ""
	}
	return s.countries[c] == s.allowList, c
}
