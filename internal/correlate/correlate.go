// Package correlate recognises attacks that no single request shows:
// credential stuffing (one client failing authentication for many
// accounts) and enumeration (one consumer refused or missing over many
// object ids, the probing that precedes a broken-object-level-
// authorization find). It runs at stage 6, around the rest of the
// request path, and reads how each request ended. The counts live in
// the state driver (per node, or in Redis for every node); a detection
// is an event that says which counts crossed which thresholds, and an
// offence for the policy's graduated response, which decides what
// follows (warn, throttle, block, ban).
package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// The offences a detection commits, as a graduated response lists them.
const (
	OffenceStuffing    = "credential-stuffing"
	OffenceEnumeration = "enumeration"
)

// Detector is one detector's thresholds.
type Detector struct {
	Window   time.Duration
	Events   int64 // failures or refusals
	Distinct int64
	// Key is whose credential-stuffing failures count together: ip (""),
	// ja4 (the TLS fingerprint), or asn (the address's autonomous system).
	Key string
}

// Stage is a policy's detectors.
type Stage struct {
	Policy      string
	Stuffing    *Detector // nil: off
	Enumeration *Detector // nil: off
	Evidence    ratelimit.Evidence
	Seed        maphash.Seed
	Shared      bool // Evidence is shared by the nodes: keys hashed alike everywhere
	// Offend records an offence in the policy's graduated response, which
	// counts it when it lists it; nil without one.
	Offend func(r *http.Request, st *reqctx.State, offence string)
	// ASN looks up an address's autonomous system, for Key asn.
	ASN   func(ip netip.Addr) (uint32, string, error)
	Count func(detector, outcome string) // observed, detected; may be nil
	Now   func() time.Time

	mu       sync.Mutex
	reported map[string]int64 // detector and key -> when its event may be published again (unix ns)
}

// Name names the stage in traces and docs/architecture.md (stage 6).
func (s *Stage) Name() string { return "correlate" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cred presented
		if s.Stuffing != nil {
			cred = credentialOf(r) // before authentication takes the credential off the request
		}
		next.ServeHTTP(w, r)
		st := reqctx.From(r.Context())
		status := outcome(st)
		switch {
		case status == http.StatusUnauthorized && s.Stuffing != nil:
			s.stuffing(r, st, cred)
		case (status == http.StatusForbidden || status == http.StatusNotFound) && s.Enumeration != nil && len(st.Match.Values()) > 0:
			s.enumeration(r, st, status)
		}
	})
}

// outcome is how the request ended: the gateway's refusal, or the
// upstream's status.
func outcome(st *reqctx.State) int {
	switch st.Problem {
	case "":
		return st.UpstreamStatus
	case problem.Unauthorized.Slug, problem.InvalidCredentials.Slug:
		return http.StatusUnauthorized
	case problem.Forbidden.Slug:
		return http.StatusForbidden
	case problem.NotFound.Slug:
		return http.StatusNotFound
	}
	return 0 // other refusals are other stages' business
}

func (s *Stage) stuffing(r *http.Request, st *reqctx.State, cred presented) {
	d := s.Stuffing
	key, who := "ip", st.AccessRecord.ClientIP
	var org string // the AS's organisation, for the event
	switch d.Key {
	case "ja4":
		if st.JA4 == "" {
			return // cleartext: no fingerprint to count by
		}
		key, who = "ja4", st.JA4
	case "asn":
		// an address in no autonomous system (private, unallocated) counts
		// by itself, not with every other such address
		if n, name, err := s.lookupASN(st.ClientIP); err == nil && n != 0 {
			key, who = "asn", fmt.Sprintf("AS%d", n)
			if name != "" {
				org = " (" + name + ")"
			}
		}
	}
	count, distinct := s.observe(r, "stuffing\x00"+key+"\x00"+who, d, cred.member(st))
	s.count("credential_stuffing", "observed")
	if count < d.Events || distinct < d.Distinct {
		return
	}
	s.detected(r, st, "credential_stuffing", OffenceStuffing, key+"="+who, d,
		fmt.Sprintf("%d failed authentications for %d distinct credentials from %s %s%s in the last %s (thresholds: %d failures, %d credentials).",
			count, distinct, key, who, org, d.Window, d.Events, d.Distinct))
}

func (s *Stage) enumeration(r *http.Request, st *reqctx.State, status int) {
	d := s.Enumeration
	key, who := "consumer", st.Consumer
	if who == "" {
		key, who = "ip", st.AccessRecord.ClientIP
	}
	object := st.Route + "\x00" + strings.Join(st.Match.Values(), "\x00")
	count, distinct := s.observe(r, "enum\x00"+key+"\x00"+who, d, member(object))
	s.count("enumeration", "observed")
	if count < d.Events || distinct < d.Distinct {
		return
	}
	s.detected(r, st, "enumeration", OffenceEnumeration, key+"="+who, d,
		fmt.Sprintf("%d answers 403 or 404 (this one %d on %s) over %d distinct object ids for %s %s in the last %s (thresholds: %d answers, %d ids).",
			count, status, st.Match.Pattern(), distinct, key, who, d.Window, d.Events, d.Distinct))
}

func (s *Stage) lookupASN(ip netip.Addr) (uint32, string, error) {
	if s.ASN == nil || !ip.IsValid() {
		return 0, "", nil
	}
	return s.ASN(ip)
}

// observe counts one event of the key about member. It is recorded
// even when the client has gone: hanging up must not be a way to probe
// without counting.
func (s *Stage) observe(r *http.Request, material string, d *Detector, member uint64) (int64, int64) {
	k := ratelimit.HashKey(s.Seed, []byte(s.Policy+"\x00correlate\x00"+material), s.Shared)
	return s.Evidence.Observe(context.WithoutCancel(r.Context()), k, d.Window, member, s.now().UnixNano())
}

// member is what makes two events distinct: the same on every node, and
// no client can make two of its credentials or ids count as one.
func member(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8]) | 1 // never 0, which means none
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stage) count(detector, outcome string) {
	if s.Count != nil {
		s.Count(detector, outcome)
	}
}

// detected commits the offence, and publishes the detection's event at
// most once per window and key on this node: the offences say how long
// it goes on, the event says that it began and why.
func (s *Stage) detected(r *http.Request, st *reqctx.State, detector, offence, subject string, d *Detector, why string) {
	s.count(detector, "detected")
	if s.Offend != nil {
		s.Offend(r, st, offence)
	}
	now := s.now().UnixNano()
	id := detector + "\x00" + subject
	s.mu.Lock()
	if s.reported == nil {
		s.reported = map[string]int64{}
	}
	if until := s.reported[id]; now < until {
		s.mu.Unlock()
		return
	}
	if len(s.reported) >= 10000 {
		for k, until := range s.reported {
			if now >= until {
				delete(s.reported, k)
			}
		}
	}
	s.reported[id] = now + int64(d.Window)
	s.mu.Unlock()
	st.Events.Publish(observe.Event{Type: "attack." + detector, Reason: offence, Stage: "correlate", Rule: s.Policy, Detail: why,
		Consumer: st.Consumer, ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
}

// presented is the credential a request carried: the header and its
// value, or the user of a Basic authorization.
type presented struct{ header, value string }

// credentialOf reads the credential a request carries in a header.
// Credentials in a body (a login form) are not read: such failures
// count, as one credential.
func credentialOf(r *http.Request) presented {
	if u, _, ok := r.BasicAuth(); ok {
		return presented{"user", u} // many passwords for one user are one account
	}
	for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key", "Cookie"} {
		if v := r.Header[h]; len(v) > 0 && v[0] != "" {
			return presented{h, v[0]}
		}
	}
	return presented{}
}

// member identifies the credential a failed request presented: the
// consumer the gateway read from it, else what it carried.
func (p presented) member(st *reqctx.State) uint64 {
	switch {
	case st.Consumer != "":
		return member("consumer\x00" + st.Consumer)
	case p.header != "":
		return member(p.header + "\x00" + p.value)
	}
	return 0
}
