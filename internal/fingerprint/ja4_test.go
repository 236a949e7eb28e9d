package fingerprint

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func hexes(t *testing.T, s string) []uint16 {
	t.Helper()
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(f, 16, 16)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, uint16(v))
	}
	return out
}

// TestJA4 checks a Chrome 143 ClientHello, as published with its JA4 by
// a fingerprinting service (the ciphers, extensions and signature
// algorithms in wire order), with GREASE values added as Chrome sends
// them, and without SNI or ALPN.
func TestJA4(t *testing.T) {
	chrome := Hello{
		Versions:            []uint16{0x7a7a, 0x0304, 0x0303},
		Ciphers:             append([]uint16{0x2a2a}, hexes(t, "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035")...),
		Extensions:          append(append([]uint16{0x5a5a}, hexes(t, "002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b")...), 0xfafa),
		SignatureAlgorithms: hexes(t, "0403,0804,0401,0503,0805,0501,0806,0601"),
		ALPN:                []string{"h2", "http/1.1"},
		SNI:                 true,
	}
	for _, tc := range []struct {
		name string
		h    func(Hello) Hello
		want string
	}{
		{"chrome", func(h Hello) Hello { return h }, "t13d1516h2_8daaf6152771_d8a2da3f94cd"},
		{"no sni, http/1.1", func(h Hello) Hello { h.SNI = false; h.ALPN = []string{"http/1.1"}; return h }, "t13i1516h1_8daaf6152771_d8a2da3f94cd"},
		{"no alpn, tls 1.2", func(h Hello) Hello { h.ALPN = nil; h.Versions = []uint16{0x0303}; return h }, "t12d151600_8daaf6152771_d8a2da3f94cd"},
		{"nothing", func(Hello) Hello { return Hello{} }, "t00i000000_000000000000_000000000000"},
	} {
		if got := JA4Of(tc.h(chrome)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestFamilyAndInconsistencies(t *testing.T) {
	const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"
	for _, tc := range []struct{ ua, want string }{
		{chromeUA, "chrome"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0", "edge"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", "firefox"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "safari"},
		{"curl/8.5.0", "curl"}, {"python-requests/2.32.3", "python"}, {"Go-http-client/2.0", "go"},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"},
		{"", ""}, {"my-app/1.0", "other"},
	} {
		if got := Family(tc.ua); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.ua, got, tc.want)
		}
	}
	browser := http.Header{"Accept": {"text/html"}, "Accept-Language": {"en"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Ch-Ua": {`"Chromium";v="143"`}}
	const ja4h2, ja4h1 = "t13d1516h2_8daaf6152771_d8a2da3f94cd", "t13d1516h1_8daaf6152771_d8a2da3f94cd"
	for _, tc := range []struct {
		name   string
		h      http.Header
		family string
		ja4    string
		want   string
	}{
		{"a real browser", browser, "chrome", ja4h2, ""},
		{"a script with a browser UA", http.Header{"Accept": {"*/*"}}, "chrome", ja4h1,
			"browser-without-accept-language browser-without-sec-fetch chromium-without-client-hints browser-without-h2-alpn"},
		{"cleartext: fewer headers expected", http.Header{"Accept": {"*/*"}, "Accept-Language": {"en"}}, "chrome", "", ""},
		{"not a browser: no claim to check", http.Header{}, "curl", ja4h1, ""},
	} {
		if got := strings.Join(Inconsistencies(tc.h, tc.family, tc.ja4), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// BenchmarkJA4 is the per-connection cost of fingerprinting a handshake.
func BenchmarkJA4(b *testing.B) {
	h := Hello{Versions: []uint16{0x0304, 0x0303}, Ciphers: []uint16{0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f}, Extensions: []uint16{0, 0x10, 0x2b, 0x33, 0x0d, 0x0a},
		SignatureAlgorithms: []uint16{0x0403, 0x0804}, ALPN: []string{"h2"}, SNI: true}
	b.ReportAllocs()
	for b.Loop() {
		JA4Of(h)
	}
}
