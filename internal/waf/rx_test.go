package waf

import (
	"net/http/httptest"
	"net/netip"
	"regexp"
	"testing"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestRxFlags: @rx compiles as ModSecurity v2 does (rxFlags): a dot
// matches a newline; ^ and $ match at the ends of the value, not at every
// line, so a line of a note is not the start of a value.
func TestRxFlags(t *testing.T) {
	for _, tc := range []struct {
		pattern, input string
		want           bool
	}{
		{`^[^a-z]+update\s+\w+`, "1. update the CRM", true},
		{`^[^a-z]+update\s+\w+`, "notes:\n1. update the CRM", false},
		{`select.+from`, "select a\nfrom b", true}, // dotall
		{`users$`, "from users\nnext", false},
		{`users$`, "from users", true},
		{`(?m)^update`, "notes\nupdate", true}, // a rule that asks for lines gets them
		{`\xff\x00`, "\xff\x00", true},         // bytes, as Coraza matches them
	} {
		op, err := newRxOperator(plugintypes.OperatorOptions{Arguments: tc.pattern})
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := op.Evaluate(&captures{}, tc.input); got != tc.want {
			t.Errorf("@rx %q on %q = %v, want %v", tc.pattern, tc.input, got, tc.want)
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
