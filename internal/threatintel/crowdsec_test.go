package threatintel

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

func crowdSecFeed(url, key string, types ...string) *Feed {
	return New(Source{Name: "crowdsec", Refresh: time.Hour, Timeout: 5 * time.Second, MaxBytes: 1 << 20, MaxEntries: 100,
		CrowdSec: &CrowdSec{URL: url, APIKey: key, Types: types}}, Options{})
}

// TestCrowdSecFeed follows a real Local API as a bouncer: decisions
// added and deleted with cscli reach the list on the next pull.
func TestCrowdSecFeed(t *testing.T) {
	cs := testenv.StartCrowdSec(t)
	ctx := context.Background()
	bans := crowdSecFeed(cs.URL, cs.AddBouncer("rampart-bans"), "ban")
	defer bans.Close()
	captchas := crowdSecFeed(cs.URL, cs.AddBouncer("rampart-captchas"), "captcha")
	defer captchas.Close()
	pull := func(f *Feed) Result {
		t.Helper()
		r, err := f.Refresh(ctx)
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		return r
	}
	if r := pull(bans); r != Updated || bans.Set().Entries() != 0 {
		t.Fatalf("first pull of an empty Local API: %v, %d entries", r, bans.Set().Entries())
	}
	if r := pull(bans); r != Unchanged {
		t.Fatalf("a pull with no change: %v", r)
	}
	cs.Decide("--ip", "203.0.113.7", "ban", time.Hour)
	cs.Decide("--range", "198.51.100.0/24", "ban", time.Hour)
	cs.Decide("--ip", "2001:db8::5", "ban", time.Hour)
	cs.Decide("--range", "192.0.2.0/24", "captcha", time.Hour)
	pull(bans)
	pull(captchas)
	for _, c := range []struct {
		feed *Feed
		ip   string
		want bool
	}{
		{bans, "203.0.113.7", true}, {bans, "203.0.113.8", false}, {bans, "198.51.100.200", true},
		{bans, "2001:db8::5", true}, {bans, "::ffff:203.0.113.7", true}, {bans, "192.0.2.1", false},
		{captchas, "192.0.2.1", true}, {captchas, "203.0.113.7", false},
	} {
		if got := c.feed.ListsAddr(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("%s lists %s: %v, want %v", c.feed.Status().Name, c.ip, got, c.want)
		}
	}
	if st := bans.Status(); st.Entries != 3 || st.Format != FormatCrowdSec || st.Source != cs.URL {
		t.Errorf("status %+v", st)
	}
	// deleted: gone on the next pull, the others stay
	cs.Cscli("decisions", "delete", "--ip", "203.0.113.7")
	pull(bans)
	if bans.ListsAddr(netip.MustParseAddr("203.0.113.7")) || !bans.ListsAddr(netip.MustParseAddr("198.51.100.1")) {
		t.Errorf("after the deletion: 203.0.113.7 listed %v, 198.51.100.1 listed %v",
			bans.ListsAddr(netip.MustParseAddr("203.0.113.7")), bans.ListsAddr(netip.MustParseAddr("198.51.100.1")))
	}
	// a new gateway node with its own key starts from every active decision
	fresh := crowdSecFeed(cs.URL, cs.AddBouncer("rampart-node-2"), "ban")
	defer fresh.Close()
	pull(fresh)
	if fresh.Set().Entries() != 2 {
		t.Errorf("a new bouncer's first pull: %d entries, want 2", fresh.Set().Entries())
	}
	// a wrong key: refused, and the list in use stays
	wrong := crowdSecFeed(cs.URL, "not-a-key", "ban")
	defer wrong.Close()
	if _, err := wrong.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "refused the bouncer key") {
		t.Errorf("a wrong key: %v", err)
	}
}

// lapi is a Local API's decisions stream for the edge cases a real one
// does not produce on demand.
type lapi struct {
	mu      sync.Mutex
	answers []string // the next answers, in order
	queries []string
}

func (l *lapi) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, r.URL.RawQuery)
	if r.Header.Get("X-Api-Key") != "k" || len(l.answers) == 0 {
		http.Error(w, `{"message":"access forbidden"}`, http.StatusForbidden)
		return
	}
	a := l.answers[0]
	l.answers = l.answers[1:]
	if a == "500" {
		http.Error(w, "oops", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(a))
}

func decisions(newDs, deleted []map[string]any) string {
	b, _ := json.Marshal(map[string]any{"new": newDs, "deleted": deleted})
	return string(b)
}

func TestCrowdSecStreamEdges(t *testing.T) {
	d := func(id int, scope, value, dur string) map[string]any {
		return map[string]any{"id": id, "scope": scope, "value": value, "type": "ban", "duration": dur, "origin": "crowdsec", "scenario": "x"}
	}
	l := &lapi{}
	srv := httptest.NewServer(l)
	defer srv.Close()
	f := New(Source{Name: "cs", Refresh: time.Hour, Timeout: 5 * time.Second, MaxBytes: 1 << 20, MaxEntries: 3,
		CrowdSec: &CrowdSec{URL: srv.URL + "/", APIKey: "k", Types: []string{"ban"}, Origins: []string{"crowdsec", "cscli"}}}, Options{})
	defer f.Close()
	ctx := context.Background()
	listed := func(a string) bool { return f.ListsAddr(netip.MustParseAddr(a)) }
	l.answers = []string{
		decisions([]map[string]any{
			d(1, "Ip", "203.0.113.1", "1h"),
			d(2, "Range", "0.0.0.0/0", "1h"),         // every address: never
			d(3, "Ip", "not-an-ip", "1h"),            // skipped
			d(4, "Country", "FR", "1h"),              // another scope
			d(5, "Ip", "203.0.113.5", "-3s"),         // expired on the way
			d(6, "Range", "::ffff:0.0.0.0/96", "1h"), // every IPv4 address
			d(7, "Ip", "203.0.113.7", "150ms"),       // expires before the next pull
			d(8, "Ip", "203.0.113.1", "2h"),          // a second decision on one address
		}, nil),
		// the first decision on 203.0.113.1 ends; the second keeps it listed
		decisions(nil, []map[string]any{d(1, "Ip", "203.0.113.1", "-1s")}),
		"500",
		// after a failure: every active decision again, which replaces the list
		decisions([]map[string]any{d(9, "Ip", "203.0.113.9", "1h")}, nil),
		decisions([]map[string]any{d(10, "Ip", "203.0.113.10", "1h"), d(11, "Ip", "203.0.113.11", "1h"), d(12, "Ip", "203.0.113.12", "1h")}, nil),
		`{"new": [`,
	}
	if r, err := f.Refresh(ctx); r != Updated || err != nil {
		t.Fatalf("first pull: %v %v", r, err)
	}
	if !listed("203.0.113.1") || !listed("203.0.113.7") || listed("203.0.113.5") || listed("198.51.100.1") || listed("10.0.0.1") {
		t.Errorf("first pull lists the wrong addresses: %d entries", f.Set().Entries())
	}
	if st := f.Status(); st.Skipped != 4 || st.Entries != 3 {
		t.Errorf("status %+v: want 4 skipped (not an address, /0, ::ffff:0/96, a country) and 3 entries", st)
	}
	time.Sleep(200 * time.Millisecond)
	if r, err := f.Refresh(ctx); r != Updated || err != nil || !listed("203.0.113.1") || listed("203.0.113.7") {
		t.Errorf("second pull: %v %v; 203.0.113.1 listed %v, 203.0.113.7 (expired) listed %v", r, err, listed("203.0.113.1"), listed("203.0.113.7"))
	}
	if _, err := f.Refresh(ctx); err == nil || !listed("203.0.113.1") {
		t.Errorf("a failed pull: %v, and the list in use must stay", err)
	}
	if r, err := f.Refresh(ctx); r != Updated || err != nil || listed("203.0.113.1") || !listed("203.0.113.9") {
		t.Errorf("the pull after a failure must start over: %v %v", r, err)
	}
	if _, err := f.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "max_entries") || !listed("203.0.113.9") {
		t.Errorf("over max_entries: %v", err)
	}
	if _, err := f.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "not a decisions stream") {
		t.Errorf("a cut answer: %v", err)
	}
	want := []string{"startup=true", "startup=false", "startup=false", "startup=true", "startup=false", "startup=true"}
	for i, q := range l.queries {
		if !strings.Contains(q, want[i]) || !strings.Contains(q, "scopes=ip%2Crange") || !strings.Contains(q, "origins=crowdsec%2Ccscli") {
			t.Errorf("pull %d asked %q, want %s with scopes and origins", i+1, q, want[i])
		}
	}
}
