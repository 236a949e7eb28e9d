package fingerprint

import (
	"net/http"
	"strings"
)

// Family classifies a User-Agent: a browser (chrome, edge, firefox,
// safari), a known tool or library (curl, wget, python, go, java, node,
// postman), a self-declared bot (bot), other, or "" when none was sent.
func Family(ua string) string {
	if ua == "" {
		return ""
	}
	l := strings.ToLower(ua)
	for _, f := range []struct{ token, family string }{
		{"curl/", "curl"}, {"wget/", "wget"}, {"python-requests", "python"}, {"python-urllib", "python"}, {"aiohttp", "python"},
		{"httpx", "python"}, {"scrapy", "python"}, {"go-http-client", "go"}, {"java/", "java"}, {"okhttp", "java"},
		{"apache-httpclient", "java"}, {"node-fetch", "node"}, {"axios", "node"}, {"undici", "node"}, {"postmanruntime", "postman"},
		{"bot", "bot"}, {"spider", "bot"}, {"crawler", "bot"},
		{"edg/", "edge"}, {"firefox/", "firefox"}, {"chrome/", "chrome"}, {"chromium/", "chrome"},
		{"safari/", "safari"},
	} {
		if strings.Contains(l, f.token) {
			return f.family
		}
	}
	return "other"
}

// Browser reports whether family is a browser's.
func Browser(family string) bool {
	switch family {
	case "chrome", "edge", "firefox", "safari":
		return true
	}
	return false
}

// Inconsistencies lists the ways a request that claims to come from a
// browser does not look like one: headers every current browser sends
// are missing, or its TLS ClientHello (JA4) does not offer HTTP/2 first,
// as every browser's does. ja4 is "" on a cleartext connection, where
// browsers send fewer headers (no client hints, no Sec-Fetch-*) and only
// Accept-Language is required.
func Inconsistencies(h http.Header, family, ja4 string) []string {
	if !Browser(family) {
		return nil
	}
	var out []string
	if h.Get("Accept-Language") == "" {
		out = append(out, "browser-without-accept-language")
	}
	if h.Get("Accept") == "" {
		out = append(out, "browser-without-accept")
	}
	if ja4 == "" {
		return out
	}
	if h.Get("Sec-Fetch-Mode") == "" {
		out = append(out, "browser-without-sec-fetch")
	}
	if (family == "chrome" || family == "edge") && h.Get("Sec-Ch-Ua") == "" {
		out = append(out, "chromium-without-client-hints")
	}
	if len(ja4) >= 10 && ja4[8:10] != "h2" {
		out = append(out, "browser-without-h2-alpn")
	}
	return out
}
