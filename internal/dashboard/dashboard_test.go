package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-gw/rampart/internal/accessreview"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/threatintel"
)

func TestRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_requests_total"}, []string{"route", "code"})
	waf := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_waf_rule_groups_total"}, []string{"policy", "group"})
	reg.MustRegister(reqs, waf)
	r := NewRecorder(reg)
	defer r.Close()
	reqs.WithLabelValues("a", "200").Add(10)
	waf.WithLabelValues("p", "sqli").Add(3)
	waf.WithLabelValues("q", "sqli").Add(1)
	waf.WithLabelValues("p", "xss").Add(2)
	for i, e := range []observe.Event{
		{Type: "request.refused", Reason: "rate_limited", ClientIP: "203.0.113.1"},
		{Type: "request.refused", Reason: "rate_limited", ClientIP: "203.0.113.1", Consumer: "acme"},
		{Type: "request.refused", Reason: "waf_blocked", ClientIP: "203.0.113.2"},
		{Type: "config.reloaded"},
	} {
		e.Time = time.Unix(int64(i), 0)
		_ = r.Write(&e)
	}
	r.sample(time.Now())
	v := r.View()
	if len(v.Series.Times) != 1 || v.Series.Requests[0] != 10/Step.Seconds() {
		t.Fatalf("series %+v", v.Series)
	}
	if v.Series.Refusals["rate_limited"][0] != 2 || v.Series.Refusals["waf_blocked"][0] != 1 {
		t.Fatalf("refusals %+v", v.Series.Refusals)
	}
	if len(v.TopIPs) != 2 || v.TopIPs[0] != (Count{"203.0.113.1", 2}) || len(v.TopConsumers) != 1 {
		t.Fatalf("top %+v %+v", v.TopIPs, v.TopConsumers)
	}
	if len(v.WAFGroups) != 2 || v.WAFGroups[0] != (Count{"sqli", 4}) {
		t.Fatalf("waf %+v", v.WAFGroups)
	}
	if len(v.Recent) != 4 || v.Recent[0].Type != "config.reloaded" {
		t.Fatalf("recent %+v", v.Recent)
	}
	// The ring keeps Points points, oldest first.
	for i := 0; i < Points+5; i++ {
		r.sample(time.UnixMilli(int64(i)))
	}
	v = r.View()
	if len(v.Series.Times) != Points || v.Series.Times[0] != 5 || v.Series.Times[Points-1] != Points+4 {
		t.Fatalf("ring: %d points from %d to %d", len(v.Series.Times), v.Series.Times[0], v.Series.Times[len(v.Series.Times)-1])
	}
}

type source struct {
	bans   []ratelimit.Ban
	lifted []string
	events []observe.Event
	token  string
}

func (s *source) Bans(context.Context) ([]ratelimit.Ban, error) { return s.bans, nil }
func (s *source) LiftBan(_ context.Context, id string) (bool, error) {
	for i, b := range s.bans {
		if b.ID == id {
			s.bans = append(s.bans[:i], s.bans[i+1:]...)
			s.lifted = append(s.lifted, id)
			return true, nil
		}
	}
	return false, nil
}
func (s *source) Health() []observe.TargetHealth { return nil }
func (s *source) Reloads() []Reload {
	return []Reload{{Source: "sighup", Errors: []string{"rampart.yaml:3:5: routes[0]: bad"}}}
}
func (s *source) Publish(e observe.Event) { s.events = append(s.events, e) }
func (s *source) Token() string           { return s.token }
func (s *source) ThreatFeeds() []threatintel.Status {
	return []threatintel.Status{{Name: "spamhaus-drop", Entries: 1400}}
}
func (s *source) AccessReview(context.Context) (*accessreview.Report, error) {
	return &accessreview.Report{Findings: 1, Consumers: []accessreview.Consumer{{ID: "acme", Keys: []accessreview.Key{{ID: "k1", State: "active", Flags: []string{accessreview.KeyUnused}}}}}}, nil
}

func TestHandler(t *testing.T) {
	src := &source{bans: []ratelimit.Ban{{ID: "b1", Subject: "ip=203.0.113.9"}}, token: "tok"}
	rec := NewRecorder(prometheus.NewRegistry())
	defer rec.Close()
	h := New(src, rec)
	var cookies []*http.Cookie
	do := func(method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		cookies = append(cookies, w.Result().Cookies()...)
		return w
	}
	page := do("GET", "/dashboard", "", nil)
	if !strings.Contains(page.Body.String(), `id="login-form"`) {
		t.Fatal("no sign-in form")
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.Body.String())[1]
	if w := do("GET", "/dashboard/api/data", "", nil); w.Code != 401 {
		t.Fatalf("data before sign-in: %d", w.Code)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if w := do("POST", "/dashboard/login", "token=tok", form); w.Code != 403 {
		t.Fatalf("sign-in without csrf: %d", w.Code)
	}
	if w := do("POST", "/dashboard/login", url.Values{"csrf": {csrf}, "token": {"nope"}}.Encode(), form); w.Code != 401 {
		t.Fatalf("wrong token: %d", w.Code)
	}
	if w := do("POST", "/dashboard/login", url.Values{"csrf": {csrf}, "token": {"tok"}}.Encode(), form); w.Code != 303 {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	w := do("GET", "/dashboard/api/data", "", nil)
	var d Data
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &d) != nil || len(d.Bans) != 1 || d.Reloads[0].Errors[0] != "rampart.yaml:3:5: routes[0]: bad" {
		t.Fatalf("data: %d %s", w.Code, w.Body)
	}
	if len(d.Feeds) != 1 || d.Feeds[0].Entries != 1400 {
		t.Fatalf("threat feeds: %+v", d.Feeds)
	}
	if w := do("GET", "/dashboard/api/access-review", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"key-unused"`) {
		t.Fatalf("access review: %d %s", w.Code, w.Body)
	}
	if w := do("GET", "/dashboard/api/access-review?format=csv", "", nil); w.Code != 200 || !strings.HasPrefix(w.Body.String(), "consumer,kind,subject") ||
		!strings.Contains(w.Header().Get("Content-Disposition"), "access-review.csv") {
		t.Fatalf("access review csv: %d %s", w.Code, w.Body)
	}
	page = do("GET", "/dashboard", "", nil)
	token := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(page.Body.String())[1]
	if w := do("POST", "/dashboard/api/bans/b1/lift", "", nil); w.Code != 403 {
		t.Fatalf("lift without csrf: %d", w.Code)
	}
	if w := do("POST", "/dashboard/api/bans/b1/lift", "", map[string]string{"X-CSRF-Token": token}); w.Code != 204 || len(src.lifted) != 1 {
		t.Fatalf("lift: %d %s", w.Code, w.Body)
	}
	if w := do("POST", "/dashboard/api/bans/b1/lift", "", map[string]string{"X-CSRF-Token": token}); w.Code != 404 {
		t.Fatalf("lift again: %d", w.Code)
	}
	var types []string
	for _, e := range src.events {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "admin.csrf_refused,admin.auth_failed,admin.dashboard_signed_in,admin.csrf_refused,admin.ban_lifted" {
		t.Fatalf("events %v", types)
	}
	// A bearer token works for scripts, a wrong one does not.
	cookies = nil
	if w := do("GET", "/dashboard/api/data", "", map[string]string{"Authorization": "Bearer tok"}); w.Code != 200 {
		t.Fatalf("bearer: %d", w.Code)
	}
	if w := do("GET", "/dashboard/api/data", "", map[string]string{"Authorization": "Bearer tok2"}); w.Code != 401 {
		t.Fatalf("wrong bearer: %d", w.Code)
	}
}

func TestSignInGuessing(t *testing.T) {
	src := &source{token: "tok"}
	rec := NewRecorder(prometheus.NewRegistry())
	defer rec.Close()
	h := New(src, rec)
	page := httptest.NewRecorder()
	h.ServeHTTP(page, httptest.NewRequest("GET", "/dashboard", nil))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.Body.String())[1]
	login := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/dashboard/login", strings.NewReader(url.Values{"csrf": {csrf}, "token": {token}}.Encode()))
		r.RemoteAddr = addr
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range page.Result().Cookies() {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := 0; i < MaxFailures; i++ {
		if w := login("192.0.2.7:1000", "guess"); w.Code != 401 {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	// Now even the right token waits; another address does not.
	if w := login("192.0.2.7:1001", "tok"); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after %d wrong tokens: %d %v", MaxFailures, w.Code, w.Header())
	}
	if w := login("192.0.2.8:1000", "tok"); w.Code != 303 {
		t.Fatalf("another address: %d", w.Code)
	}
	if src.events[len(src.events)-2].Type != "admin.auth_throttled" {
		t.Fatalf("events %+v", src.events)
	}
}
