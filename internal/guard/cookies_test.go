package guard

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestStripGatewayCookies(t *testing.T) {
	for _, c := range []struct {
		name    string
		in, out []string
	}{
		{"none", []string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{"pass and solution", []string{"a=1; rampart_pass=x; rampart_pow=y; b=2"}, []string{"a=1; b=2"}},
		{"dashboard session only", []string{"rampart_dashboard=s"}, []string{}},
		{"second header", []string{"a=1", "rampart_portal_csrf=t; c=3"}, []string{"a=1", " c=3"}},
		{"any case, spaces", []string{" RAMPART_PASS = x ;a=1"}, []string{"a=1"}},
		{"in a value, not a name", []string{"note=rampart_pass"}, []string{"note=rampart_pass"}},
		{"a name that only contains it", []string{"my_rampart_pass=1"}, []string{"my_rampart_pass=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _ := StripGatewayCookies(c.in)
			if !slices.Equal(got, c.out) && !(len(got) == 0 && len(c.out) == 0) {
				t.Fatalf("%q -> %q, want %q", c.in, got, c.out)
			}
		})
	}
}

// FuzzStripGatewayCookies: what net/http reads from the stripped header
// is what it reads from the original, less the gateway's cookies.
func FuzzStripGatewayCookies(f *testing.F) {
	f.Add("a=1; rampart_pass=x; b=2")
	f.Add("rampart_dashboard=s;;x=\"q\"")
	f.Fuzz(func(t *testing.T, v string) {
		read := func(vs []string) []string {
			var out []string
			for _, c := range (&http.Request{Header: http.Header{"Cookie": vs}}).Cookies() {
				out = append(out, c.Name+"="+c.Value)
			}
			return out
		}
		got, _ := StripGatewayCookies([]string{v})
		var want []string
		for _, c := range read([]string{v}) {
			if !strings.HasPrefix(strings.ToLower(c), GatewayCookiePrefix) {
				want = append(want, c)
			}
		}
		if g := read(got); !slices.Equal(g, want) {
			t.Fatalf("%q: forwarded %q, want %q", v, g, want)
		}
	})
}
