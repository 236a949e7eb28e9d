package correlate

import (
	"hash/maphash"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestDetectors: credential stuffing needs both many failures and many
// distinct credentials from one client; enumeration many refusals over
// many object ids for one consumer; each detection is an offence, its
// event published once per window.
func TestDetectors(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var offences []string
	detected := map[string]int{}
	s := &Stage{Policy: "api", Evidence: ratelimit.NewMemoryEvidence(0), Seed: maphash.MakeSeed(), Now: func() time.Time { return now },
		Stuffing:    &Detector{Window: time.Minute, Events: 6, Distinct: 3},
		Enumeration: &Detector{Window: time.Minute, Events: 5, Distinct: 5},
		Offend:      func(_ *http.Request, _ *reqctx.State, o string) { offences = append(offences, o) },
		Count: func(d, outcome string) {
			if outcome == "detected" {
				detected[d]++
			}
		}}
	type outcome struct {
		problem  string
		upstream int
	}
	var end outcome
	h := s.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	send := func(ip, consumer, auth string, o outcome) {
		end = o
		req := httptest.NewRequest("GET", "/v1/orders/x", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		st := &reqctx.State{}
		st.AccessRecord.ClientIP, st.Consumer, st.Route = ip, consumer, "orders"
		st.Problem, st.UpstreamStatus = end.problem, end.upstream
		h.ServeHTTP(httptest.NewRecorder(), req.WithContext(reqctx.With(req.Context(), st)))
		now = now.Add(time.Second)
	}
	bad := outcome{problem: problem.InvalidCredentials.Slug}
	// one client, one password guessed again and again: many failures,
	// one credential, no stuffing
	for range 10 {
		send("192.0.2.1", "", "Basic "+basic("alice", "guess"), bad)
	}
	if detected["credential_stuffing"] != 0 {
		t.Fatal("brute force on one account counted as stuffing")
	}
	// many accounts from one address: stuffing from the 6th failure with
	// the 3rd account on
	for i := range 8 {
		send("192.0.2.2", "", "Basic "+basic(string(rune('a'+i%4)), "pw"), bad)
	}
	if detected["credential_stuffing"] != 3 || len(offences) != 3 || offences[0] != OffenceStuffing {
		t.Fatalf("stuffing: detected %d, offences %v", detected["credential_stuffing"], offences)
	}
	// the upstream's own 401 (a login endpoint) counts too; a 200 does not
	send("192.0.2.3", "", "Bearer a", outcome{upstream: 401})
	send("192.0.2.3", "", "Bearer b", outcome{upstream: 200})

	// enumeration needs path parameters: without, nothing is counted
	for range 10 {
		send("192.0.2.9", "bob", "", outcome{upstream: 404})
	}
	if detected["enumeration"] != 0 {
		t.Fatal("enumeration counted on a route without parameters")
	}
	if s.reported == nil || len(s.reported) != 1 {
		t.Errorf("events published for %v, want one", s.reported)
	}
}

func basic(u, p string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u, p)
	return r.Header.Get("Authorization")[len("Basic "):]
}

// TestStuffingByASN: failures from many addresses of one autonomous
// system count together; an address in no AS counts by itself.
func TestStuffingByASN(t *testing.T) {
	var events []observe.Event
	bus := observe.NewBus([]observe.Sink{sinkFunc(func(e *observe.Event) { events = append(events, *e) })}, nil, nil)
	detected := 0
	s := &Stage{Policy: "api", Evidence: ratelimit.NewMemoryEvidence(0), Seed: maphash.MakeSeed(),
		Stuffing: &Detector{Window: time.Minute, Events: 4, Distinct: 3, Key: "asn"},
		ASN: func(ip netip.Addr) (uint32, string, error) {
			if netip.MustParsePrefix("203.0.113.0/24").Contains(ip) {
				return 64500, "Bulletproof Hosting", nil
			}
			return 0, "", nil
		},
		Count: func(_, outcome string) {
			if outcome == "detected" {
				detected++
			}
		}}
	h := s.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	send := func(ip, user string) {
		req := httptest.NewRequest("GET", "/login", nil)
		req.Header.Set("Authorization", "Basic "+basic(user, "pw"))
		st := &reqctx.State{Events: bus, ClientIP: netip.MustParseAddr(ip)}
		st.AccessRecord.ClientIP, st.Problem = ip, problem.InvalidCredentials.Slug
		h.ServeHTTP(httptest.NewRecorder(), req.WithContext(reqctx.With(req.Context(), st)))
	}
	for i := range 3 { // private addresses: no AS, each its own
		send("10.0.0."+strconv.Itoa(i+1), "u"+strconv.Itoa(i))
	}
	if detected != 0 {
		t.Fatal("addresses in no AS counted together")
	}
	for i := range 4 { // four addresses of one AS, four accounts
		send("203.0.113."+strconv.Itoa(i+1), "v"+strconv.Itoa(i))
	}
	bus.Close()
	if detected != 1 || len(events) != 1 || !strings.Contains(events[0].Detail, "from asn AS64500 (Bulletproof Hosting)") {
		t.Fatalf("detected %d, events %+v", detected, events)
	}
}

type sinkFunc func(e *observe.Event)

func (f sinkFunc) Name() string                 { return "test" }
func (f sinkFunc) Write(e *observe.Event) error { f(e); return nil }
func (f sinkFunc) Close() error                 { return nil }
