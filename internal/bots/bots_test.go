package bots

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// fakeDNS answers from maps and counts lookups.
type fakeDNS struct {
	ptr     map[string][]string
	a       map[string][]string
	lookups int
}

func (f *fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	f.lookups++
	if n, ok := f.ptr[addr]; ok {
		return n, nil
	}
	return nil, errors.New("no PTR")
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, s := range f.a[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

// TestVerifyGoodBot: forward-confirmed reverse DNS, as crawlers' owners
// document it: the PTR name must be in the domain and resolve back.
func TestVerifyGoodBot(t *testing.T) {
	dns := &fakeDNS{
		ptr: map[string][]string{
			"66.249.66.1":  {"crawl-66-249-66-1.googlebot.com."},
			"203.0.113.5":  {"crawl.googlebot.com.evil.example."},
			"198.51.100.7": {"crawl-1.googlebot.com."}, // PTR set by the address's owner, to a name that is not theirs
		},
		a: map[string][]string{"crawl-66-249-66-1.googlebot.com": {"66.249.66.1"}, "crawl-1.googlebot.com": {"66.249.66.2"}},
	}
	c := NewDNSCache()
	now := time.Now()
	for _, tc := range []struct {
		ip   string
		want bool
	}{{"66.249.66.1", true}, {"203.0.113.5", false}, {"198.51.100.7", false}, {"192.0.2.1", false}} {
		if got := c.Verify(context.Background(), dns, netip.MustParseAddr(tc.ip), []string{"googlebot.com", "google.com"}, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.ip, got, tc.want)
		}
	}
	before := dns.lookups
	c.Verify(context.Background(), dns, netip.MustParseAddr("66.249.66.1"), []string{"googlebot.com", "google.com"}, now.Add(time.Minute))
	if dns.lookups != before {
		t.Error("a verified address was looked up again within the hour")
	}
}

// TestChallengeTokens: a pass is bound to the client, expires, and a
// forged or truncated token is refused.
func TestChallengeTokens(t *testing.T) {
	c := NewChallenge([]byte("0123456789abcdef0123456789abcdef"), 8, time.Minute, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", "ua")
	st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
	now := time.Now()
	seed := c.NewSeed(r, st, now)
	w := httptest.NewRecorder()
	r.AddCookie(&http.Cookie{Name: SolutionCookie, Value: seed + ":" + Solve(seed, 8)})
	if got := c.Check(w, r, st, now); got != Solved {
		t.Fatalf("solution: %v", got)
	}
	pass := w.Result().Cookies()[0].Value
	check := func(name string, st *reqctx.State, ua, cookie string, at time.Time, want Outcome) {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("User-Agent", ua)
		r.AddCookie(&http.Cookie{Name: PassCookie, Value: cookie})
		if got := c.Check(httptest.NewRecorder(), r, st, at); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("the pass", st, "ua", pass, now, Passed)
	check("another browser", st, "other", pass, now, Failed)
	check("another address", &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.2")}, "ua", pass, now, Failed)
	check("expired", st, "ua", pass, now.Add(2*time.Minute), Failed)
	check("forged", st, "ua", pass[:len(pass)-2]+"AA", now, Failed)
	check("a seed is not a pass", st, "ua", seed, now, Failed)
	check("garbage", st, "ua", "...", now, Failed)
	// A seed expires after five minutes, solved or not.
	r2 := httptest.NewRequest("GET", "/", nil)
	r2.Header.Set("User-Agent", "ua")
	late := c.NewSeed(r2, st, now)
	r2.AddCookie(&http.Cookie{Name: SolutionCookie, Value: late + ":" + Solve(late, 8)})
	if got := c.Check(httptest.NewRecorder(), r2, st, now.Add(6*time.Minute)); got != Failed {
		t.Errorf("an expired seed: %v", got)
	}
}

func FuzzCheck(f *testing.F) {
	c := NewChallenge([]byte("0123456789abcdef0123456789abcdef"), 8, time.Minute, nil)
	f.Add("a.b", "x:1")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pass, pow string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", PassCookie+"="+pass+"; "+SolutionCookie+"="+pow)
		st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
		if got := c.Check(httptest.NewRecorder(), r, st, time.Now()); got != Failed {
			t.Fatalf("random cookies %q %q: %v", pass, pow, got)
		}
	})
}

// BenchmarkPassCheck is a challenged route's per-request cost for a
// client holding a pass: one HMAC and a binding hash.
func BenchmarkPassCheck(b *testing.B) {
	c := NewChallenge([]byte("0123456789abcdef0123456789abcdef"), 8, time.Minute, nil)
	r := httptest.NewRequest("GET", "/", nil)
	st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
	seed := c.NewSeed(r, st, time.Now())
	w := httptest.NewRecorder()
	r.AddCookie(&http.Cookie{Name: SolutionCookie, Value: seed + ":" + Solve(seed, 8)})
	c.Check(w, r, st, time.Now())
	r2 := httptest.NewRequest("GET", "/", nil)
	r2.AddCookie(w.Result().Cookies()[0])
	b.ReportAllocs()
	for b.Loop() {
		if c.Check(nil, r2, st, time.Now()) != Passed {
			b.Fatal("not passed")
		}
	}
}
