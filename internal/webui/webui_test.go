package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCSRF(t *testing.T) {
	c := NewCSRF("csrf", "/")
	page := httptest.NewRecorder()
	token := c.Token(page, httptest.NewRequest("GET", "/p", nil))
	cookie := page.Result().Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || token == "" || token == cookie.Value {
		t.Fatalf("cookie %+v token %q", cookie, token)
	}
	other := NewCSRF("csrf", "/") // another process: another key
	for _, tc := range []struct {
		name   string
		cookie bool
		token  string
		site   string
		c      *CSRF
		ok     bool
	}{
		{"valid", true, token, "same-origin", c, true},
		{"valid, no fetch metadata", true, token, "", c, true},
		{"no token", true, "", "same-origin", c, false},
		{"no cookie", false, token, "same-origin", c, false},
		{"token of another cookie", true, token[:len(token)-1] + "x", "same-origin", c, false},
		{"cross-site", true, token, "cross-site", c, false},
		{"another process's key", true, token, "same-origin", other, false},
	} {
		r := httptest.NewRequest("POST", "/p/x", nil)
		if tc.cookie {
			r.AddCookie(cookie)
		}
		if tc.token != "" {
			r.Header.Set(TokenHeader, tc.token)
		}
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if why := tc.c.Check(r); (why == "") != tc.ok {
			t.Errorf("%s: %q", tc.name, why)
		}
	}
	// A browser that has the cookie keeps its token.
	r := httptest.NewRequest("GET", "/p", nil)
	r.AddCookie(cookie)
	again := httptest.NewRecorder()
	if c.Token(again, r) != token || len(again.Result().Cookies()) != 0 {
		t.Fatal("token changed for the same cookie")
	}
}

func TestSecureAndAssets(t *testing.T) {
	w := httptest.NewRecorder()
	Assets("/ui/").ServeHTTP(w, httptest.NewRequest("GET", "/ui/rampart.css", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), ".card") || w.Header().Get("Content-Security-Policy") != CSP {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	if strings.Contains(CSP, "unsafe") {
		t.Fatal("CSP allows unsafe sources")
	}
	if !Under("/portal", "/portal") || !Under("/portal/x", "/portal") || Under("/portalx", "/portal") {
		t.Fatal("Under")
	}
}
