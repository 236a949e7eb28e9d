package transcode

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		tmpl, path string
		want       []string // nil: no match
	}{
		{"/v1/orders/{id}", "/v1/orders/o-1", []string{"o-1"}},
		{"/v1/orders/{id}", "/v1/orders/o%201", []string{"o 1"}},
		{"/v1/orders/{id}", "/v1/orders/a/b", nil},
		{"/v1/orders/{id}", "/v1/orders/", nil},
		{"/v1/{name=shelves/*}/books/{book.id}", "/v1/shelves/s1/books/b2", []string{"shelves/s1", "b2"}},
		{"/v1/{name=shelves/*}", "/v1/books/s1", nil},
		{"/v1/files/{path=**}", "/v1/files/a/b%2Fc", []string{"a/b%2Fc"}},
		{"/v1/files/{path=**}", "/v1/files", []string{""}},
		{"/v1/orders/{id}:cancel", "/v1/orders/o-1:cancel", []string{"o-1"}},
		{"/v1/orders/{id}:cancel", "/v1/orders/o-1", nil},
		{"/v1/orders/{id}", "/v1/orders/o-1:cancel", nil},
		{"/v1/ping", "/v1/ping", []string{}},
		{"/v1/*/x", "/v1/a/x", []string{}},
		{"/", "/", []string{}},
		{"/", "/x", nil},
	} {
		tpl, err := parseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		got, ok := tpl.match(tc.path)
		if ok != (tc.want != nil) || ok && !slices.Equal(got, tc.want) {
			t.Errorf("%s ~ %s: %q %v, want %q", tc.tmpl, tc.path, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"v1/x", "/v1/{id", "/v1/{}", "/v1/**/x", "/v1/{a}/{a}", "/v1/x{a}", "/v1/", "/v1/x:"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// templateRegexp is an independent reading of a template: a regular
// expression over the escaped path, a group per variable.
func templateRegexp(t *template) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	if len(t.segs) == 0 {
		b.WriteString("/")
	}
	for i := 0; i < len(t.segs); {
		if v := varAt(t, i); v != nil {
			if v.end-v.start == 1 && t.segs[v.start].kind == segRest {
				b.WriteString("(?:/(.*))?") // ** may match no segment at all
				i = v.end
				continue
			}
			b.WriteString("/(")
			for j := v.start; j < v.end; j++ {
				switch {
				case j == v.start:
					b.WriteString(segRegexp(t.segs[j]))
				case t.segs[j].kind == segRest:
					b.WriteString("(?:/.*)?")
				default:
					b.WriteString("/" + segRegexp(t.segs[j]))
				}
			}
			b.WriteString(")")
			i = v.end
			continue
		}
		if t.segs[i].kind == segRest {
			b.WriteString("(?:/.*)?")
		} else {
			b.WriteString("/" + segRegexp(t.segs[i]))
		}
		i++
	}
	if t.verb != "" {
		b.WriteString(":" + regexp.QuoteMeta(t.verb))
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func segRegexp(s segment) string {
	switch s.kind {
	case segOne:
		return "[^/]+"
	case segRest:
		return ".*"
	}
	return regexp.QuoteMeta(s.literal)
}

// FuzzMatch holds the matcher to the regular expression of the same
// template on any path: the same paths match, each variable captures the
// same escaped text (decoded by url.PathUnescape for one segment), and a
// path that ends in a verb the template lacks never matches.
func FuzzMatch(f *testing.F) {
	for _, c := range [][2]string{
		{"/v1/orders/{id}", "/v1/orders/o-1"}, {"/v1/{name=shelves/*}/books/{b}", "/v1/shelves/s/books/x%20y"},
		{"/v1/files/{path=**}", "/v1/files/a/b"}, {"/v1/orders/{id}:cancel", "/v1/orders/7:cancel"}, {"/v1/*/x", "/v1/a/x"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, src, path string) {
		tpl, err := parseTemplate(src)
		if err != nil {
			return
		}
		got, ok := tpl.match(path)
		if !strings.HasPrefix(path, "/") {
			if ok {
				t.Fatalf("%s matched %q, which is no path", src, path)
			}
			return
		}
		re := templateRegexp(tpl)
		m := re.FindStringSubmatch(path)
		last := path[strings.LastIndexByte(path, '/')+1:]
		// a path whose last segment holds a colon calls a custom verb, which
		// only a template with that verb takes (** included)
		refOK := m != nil && (tpl.verb != "" || !strings.Contains(last, ":"))
		if ok && !refOK {
			t.Fatalf("%s matched %q, the regexp %s does not", src, path, re)
		}
		if !ok && refOK {
			// the matcher refuses what does not decode; nothing else
			decodes := true
			for _, g := range m[1:] {
				if _, err := url.PathUnescape(strings.ReplaceAll(g, "%2F", "%252F")); err != nil {
					decodes = false
				}
			}
			if decodes {
				t.Fatalf("%s did not match %q, the regexp %s does", src, path, re)
			}
			return
		}
		if ok {
			for i, g := range m[1:] {
				want := g
				if v := tpl.vars[i]; v.end-v.start == 1 && tpl.segs[v.start].kind != segRest {
					want, _ = url.PathUnescape(g)
				} else {
					want, _ = url.PathUnescape(strings.ReplaceAll(g, "%2F", "%252F"))
				}
				if got[i] != want {
					t.Fatalf("%s ~ %q: variable %d is %q, the regexp says %q", src, path, i, got[i], want)
				}
			}
		}
	})
}
