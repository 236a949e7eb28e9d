package observe

import (
	"net/http"
	"net/url"
	"strings"
)

// Redacted replaces every secret value that would otherwise reach a log,
// an event or admin output.
const Redacted = "[redacted]"

// sensitiveHeaders never appear in logs or events with their values.
var sensitiveHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
	"X-Api-Key": true, "Api-Key": true, "X-Auth-Token": true, "X-Amz-Security-Token": true,
	"X-Rampart-Assertion": true, "Dpop": true,
}

// sensitiveParams are query parameters whose values are credentials.
var sensitiveParams = []string{"key", "token", "secret", "password", "passwd", "pwd", "signature", "sig", "code", "auth", "session", "credential"}

// IsSensitiveHeader reports whether a header's value must be redacted.
func IsSensitiveHeader(name string) bool {
	return sensitiveHeaders[http.CanonicalHeaderKey(name)]
}

// RedactHeader returns the value to log for header name.
func RedactHeader(name, value string) string {
	if IsSensitiveHeader(name) {
		return Redacted
	}
	return value
}

// RedactQuery returns a raw query with credential-like parameter values
// replaced, keeping the rest as sent. Unparseable input is redacted whole.
func RedactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	if !strings.ContainsAny(raw, "=") {
		return raw
	}
	if !anySensitive(raw) {
		return raw
	}
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		k, _, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return Redacted
		}
		if hasValue && sensitiveParam(name) {
			b.WriteString(k)
			b.WriteString("=" + Redacted)
			continue
		}
		b.WriteString(part)
	}
	return b.String()
}

// anySensitive reports whether some parameter name of raw looks like a
// credential, without allocating for the common case where none does.
func anySensitive(raw string) bool {
	for part := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		if strings.ContainsAny(k, "%+") || sensitiveParam(k) {
			return true // encoded names are checked decoded, the slow way
		}
	}
	return false
}

func sensitiveParam(name string) bool {
	for _, s := range sensitiveParams {
		if containsFold(name, s) {
			return true
		}
	}
	return false
}

// containsFold reports whether sub (lower-case ASCII) occurs in s, ignoring
// ASCII case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for ; j < len(sub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}
