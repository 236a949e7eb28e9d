package transcode

import (
	"slices"
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
