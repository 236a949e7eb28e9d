package waf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// corpusRequest is one request of a corpus file (JSON lines).
type corpusRequest struct {
	Name        string `json:"name"`
	Method      string `json:"method"`
	Target      string `json:"target"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

func readCorpus(t *testing.T, path string) []corpusRequest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r corpusRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// apiRoute is what the gateway tells the CRS for a route of a JSON API
// that names no methods (gateway.wafRouteVars).
var apiRoute = RouteVarsOf(nil, nil)

// refusals runs each request of a corpus through a blocking WAF at a
// paranoia level, as the gateway hands it over, and returns the refused
// ones with the rules that refused them.
func refusals(t *testing.T, corpus []corpusRequest, paranoia int) map[string]string {
	t.Helper()
	w, err := New(Options{Paranoia: paranoia, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := (&Stage{WAF: w}).ForRoute(apiRoute)
	out := map[string]string{}
	for _, c := range corpus {
		r := httptest.NewRequest(c.Method, c.Target, strings.NewReader(c.Body))
		// What an API client sends besides the request itself.
		r.Header.Set("User-Agent", "okhttp/4.12.0")
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Accept-Encoding", "gzip")
		if c.Body != "" {
			r.Header.Set("Content-Length", strconv.Itoa(len(c.Body)))
		}
		r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjYtMTEifQ.eyJzdWIiOiJjLThmMTRlNDVmIiwic2NvcGUiOiJvcmRlcnM6d3JpdGUifQ.MEUCIQDm3x8K")
		if c.ContentType != "" {
			r.Header.Set("Content-Type", c.ContentType)
		}
		st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
		r = r.WithContext(reqctx.With(r.Context(), st))
		tx := w.NewTransaction()
		s.setRouteVars(tx)
		if it := s.inspect(tx, r, inspected(st, c.ContentType, bodyOf(c.Body))); it != nil {
			out[c.Name] = ruleIDs(tx.MatchedRules())
			if os.Getenv("CORPUS_DEBUG") != "" {
				for _, m := range tx.MatchedRules() {
					if attack(m.Rule().ID()) {
						for _, d := range m.MatchedDatas() {
							t.Logf("%s: %d %s:%s %.80q", c.Name, m.Rule().ID(), d.Variable().Name(), d.Key(), d.Value())
						}
					}
				}
			}
		}
		_ = tx.Close()
	}
	return out
}

// TestBenignCorpus: realistic JSON API traffic (orders, users, search
// with quotes and apostrophes, markdown and prose, e-mails, URLs, base64,
// ids; GET, POST, PUT, PATCH, DELETE, a form login), none of it an
// attack, through a blocking WAF as the gateway runs it for a route that
// names no methods. The corpus (testdata/benign-api.jsonl, written by
// testdata/gen-benign-api.py from hand-written values) is held out: it is
// measured, never tuned on. `make test` prints the rates and the rules.
//
// The bounds are the rates measured last (9 of 240 at paranoia 1, 90 at
// paranoia 2; 21 and 97 when the corpus was added, before @rx took
// ModSecurity v2's flags and inline images were proven inert), so that
// they only go down; the aim is none at paranoia 1 and under 1% at
// paranoia 2. What is left at paranoia 1 is the CRS's own reading of
// prose as SQL or shell: a quoted keyword ("about 'select' plan", 942190),
// a line that starts with a command word ("\n\nCancel my subscription",
// 932235), a note that starts with punctuation and "Update" (942360);
// docs/waf.md lists them, and how to exclude a free-text field from a rule.
func TestBenignCorpus(t *testing.T) {
	corpus := readCorpus(t, "testdata/benign-api.jsonl")
	for _, tc := range []struct {
		paranoia int
		maxRate  float64 // refused / requests
	}{{1, 9.0 / 240}, {2, 90.0 / 240}} {
		refused := refusals(t, corpus, tc.paranoia)
		rate := float64(len(refused)) / float64(len(corpus))
		names := make([]string, 0, len(refused))
		for n, ids := range refused {
			names = append(names, fmt.Sprintf("%s (%s)", n, ids))
		}
		sort.Strings(names)
		t.Logf("benign API corpus at paranoia %d: %d of %d refused (%.2f%%) %s", tc.paranoia, len(refused), len(corpus), 100*rate, strings.Join(names, ", "))
		if rate > tc.maxRate {
			t.Errorf("paranoia %d: false-positive rate %.2f%% above %.2f%%", tc.paranoia, 100*rate, 100*tc.maxRate)
		}
	}
}
