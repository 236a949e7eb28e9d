package threatintel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// publisher is a feed's HTTPS server: it serves body with an ETag and
// answers a matching If-None-Match with 304; fail makes it answer 503.
type publisher struct {
	mu          sync.Mutex
	body, etag  string
	fail        bool
	conditional int // requests that carried If-None-Match
	requests    int
	header      http.Header
}

func (p *publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	p.header = r.Header.Clone()
	if p.fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		p.conditional++
		if inm == p.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("ETag", p.etag)
	_, _ = w.Write([]byte(p.body))
}

func (p *publisher) set(body, etag string, fail bool) {
	p.mu.Lock()
	p.body, p.etag, p.fail = body, etag, fail
	p.mu.Unlock()
}

func TestFeedDownload(t *testing.T) {
	pub := &publisher{}
	pub.set("203.0.113.0/24\n", `"v1"`, false)
	srv := httptest.NewTLSServer(pub)
	defer srv.Close()
	var got []Result
	f := New(Source{Name: "drop", URL: srv.URL + "/drop.txt", Format: FormatPlain, Refresh: time.Hour, Timeout: 5 * time.Second,
		MaxBytes: 1 << 20, MaxEntries: 100, Header: map[string]string{"Key": "s3cret"}},
		Options{Client: srv.Client(), Notify: func(_ string, r Result, _ int, _ error) { got = append(got, r) }})
	defer f.Close()
	ctx := context.Background()
	listed := func(a string) bool { return f.Set().Contains(netip.MustParseAddr(a)) }

	if r, err := f.Refresh(ctx); r != Updated || err != nil || !listed("203.0.113.9") {
		t.Fatalf("first download: %v %v", r, err)
	}
	if pub.header.Get("Key") != "s3cret" || pub.header.Get("If-None-Match") != "" {
		t.Errorf("first request headers %v", pub.header)
	}
	if r, err := f.Refresh(ctx); r != Unchanged || err != nil || pub.conditional != 1 {
		t.Fatalf("revalidation: %v %v, conditional requests %d", r, err, pub.conditional)
	}
	pub.set("198.51.100.0/24\n", `"v2"`, false)
	if r, _ := f.Refresh(ctx); r != Updated || listed("203.0.113.9") || !listed("198.51.100.1") {
		t.Fatalf("new version: %v", r)
	}
	// a failing publisher, a corrupt list, one over the limits: the
	// list in use stays, and the status says why
	for _, c := range []struct {
		body string
		fail bool
		want string
	}{
		{"", true, "503"},
		{"198.51.100.0/24\n<html>maintenance</html>\n", false, "line 2"},
		{strings.Repeat("192.0.2.1\n", 101), false, "more than 100"},
		{strings.Repeat("#", 2<<20), false, "over max_bytes"},
	} {
		pub.set(c.body, `"bad"`, c.fail)
		r, err := f.Refresh(ctx)
		if r != Failed || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("bad version: %v %v, want an error with %q", r, err, c.want)
		}
		if !listed("198.51.100.1") || f.Status().Entries != 1 || !strings.Contains(f.Status().Error, c.want) {
			t.Fatalf("after a failure: status %+v", f.Status())
		}
	}
	if f.Status().Failures != 4 {
		t.Errorf("failures %d, want 4", f.Status().Failures)
	}
	pub.set("198.51.100.0/24\n", `"v2"`, false)
	if r, _ := f.Refresh(ctx); r != Unchanged || f.Status().Failures != 0 || f.Status().Error != "" {
		t.Fatalf("recovery: %v %+v", r, f.Status())
	}
	if want := []Result{Updated, Unchanged, Updated, Failed, Failed, Failed, Failed, Unchanged}; strings.Join(toStrings(got), ",") != strings.Join(toStrings(want), ",") {
		t.Errorf("notified %v, want %v", got, want)
	}
}

func toStrings(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func TestFeedRefusesPlainHTTPRedirect(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("0.0.0.1\n")) }))
	defer plain.Close()
	srv := httptest.NewTLSServer(http.RedirectHandler(plain.URL, http.StatusFound))
	defer srv.Close()
	f := New(Source{Name: "x", URL: srv.URL, Format: FormatPlain, Refresh: time.Hour, Timeout: 5 * time.Second, MaxBytes: 1 << 20}, Options{})
	f.client.Transport = srv.Client().Transport
	if _, err := f.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("redirect to http: %v", err)
	}
}

func TestFeedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(path, []byte("192.0.2.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := New(Source{Name: "local", File: path, Format: FormatPlain, Refresh: 20 * time.Millisecond, MaxBytes: 1 << 20,
		Exclude: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")}}, Options{})
	if f.ListsAddr(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("listed before the first read")
	}
	if r, err := f.Refresh(context.Background()); r != Updated || err != nil || !f.ListsAddr(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Fatalf("first read: %v %v", r, err)
	}
	if r, _ := f.Refresh(context.Background()); r != Unchanged {
		t.Fatalf("unchanged file: %v", r)
	}
	f.Start()
	defer f.Close()
	if err := os.WriteFile(path, []byte("192.0.2.1\n192.0.2.2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !f.Set().Contains(netip.MustParseAddr("192.0.2.2")) { // in the list, excluded by the feed
		if time.Now().After(deadline) {
			t.Fatal("the changed file was not read again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if f.ListsAddr(netip.MustParseAddr("192.0.2.2")) || !f.ListsAddr(netip.MustParseAddr("192.0.2.1")) {
		t.Error("exclusions not applied")
	}
}
