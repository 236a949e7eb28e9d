package observe

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rampart-gw/rampart/internal/pii"
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
	if raw == "" || !strings.ContainsAny(raw, "=") || !anySensitive(raw) {
		return raw
	}
	return redactParams(raw, sensitiveParam)
}

// redactParams replaces the values of the parameters of raw whose decoded
// name secret reports.
func redactParams(raw string, secret func(name string) bool) string {
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
		if hasValue && secret(name) {
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

// Redactor is the one redaction applied wherever data leaves the gateway
// other than to the client: the access log, security events (every sink,
// the audit trail included), trace attributes and admin API output. On
// top of the credential rules above (sensitive headers and query
// parameters), it masks the personal data and credentials its detectors
// find in free text (a path, a detail, an attribute): by default email
// addresses, payment cards, IBANs, US SSNs, JWTs and bearer tokens.
type Redactor struct {
	set  *pii.Set
	pool sync.Pool // *redactBuf
	// creds are the query parameters and headers the config names as
	// carrying credentials (api_key authenticators' in:), redacted by
	// name whatever the name is; replaced on every config load.
	creds atomic.Pointer[credentialNames]
}

type credentialNames struct {
	params  map[string]bool // lower case
	headers map[string]bool // canonical
}

// named reports whether raw may hold one of the parameters (names with
// escapes are checked decoded, the slow way).
func (c *credentialNames) named(raw string) bool {
	if len(c.params) > 0 && strings.ContainsAny(raw, "%+") {
		return true
	}
	for p := range c.params {
		if containsFold(raw, p) {
			return true
		}
	}
	return false
}

// SetCredentials makes params (query parameters, matched ignoring case)
// and headers credential carriers from now on, in place of those set
// before.
func (r *Redactor) SetCredentials(params, headers []string) {
	if r == nil {
		return
	}
	c := &credentialNames{params: map[string]bool{}, headers: map[string]bool{}}
	for _, p := range params {
		c.params[strings.ToLower(p)] = true
	}
	for _, h := range headers {
		c.headers[http.CanonicalHeaderKey(h)] = true
	}
	r.creds.Store(c)
}

type redactBuf struct {
	b []byte
	m *pii.Masker
}

// DefaultRedactDetectors are the detectors a Redactor masks with. Phone
// numbers and IP addresses are left out: the client's address is logged
// on purpose, and digit runs in paths are mostly ids.
var DefaultRedactDetectors = []string{"email", "card", "iban", "us_ssn", "jwt", "bearer"}

// NewRedactor returns a redactor masking with the named built-in
// detectors (nil: DefaultRedactDetectors).
func NewRedactor(detectors []string) *Redactor {
	if detectors == nil {
		detectors = DefaultRedactDetectors
	}
	var ds []*pii.Detector
	for _, n := range detectors {
		if d, ok := pii.Lookup(n); ok {
			ds = append(ds, d)
		}
	}
	r := &Redactor{set: pii.NewSet(ds...)}
	r.pool.New = func() any { return &redactBuf{m: r.set.NewMasker()} }
	return r
}

// Text returns s with every value the detectors find masked; s itself,
// with no allocation, when there is none.
func (r *Redactor) Text(s string) string {
	if r == nil || s == "" {
		return s
	}
	buf := r.pool.Get().(*redactBuf)
	defer r.pool.Put(buf)
	buf.b = append(buf.b[:0], s...)
	if buf.m.Mask(buf.b) == 0 {
		return s
	}
	return string(buf.b)
}

// Bytes masks b in place (JSON stays valid: masks write only '*').
func (r *Redactor) Bytes(b []byte) {
	if r == nil {
		return
	}
	buf := r.pool.Get().(*redactBuf)
	defer r.pool.Put(buf)
	buf.m.Mask(b)
}

// Query redacts a raw query: credential parameters (the built-in names
// and those of SetCredentials), then values found.
func (r *Redactor) Query(raw string) string {
	raw = RedactQuery(raw)
	if r == nil {
		return raw
	}
	if c := r.creds.Load(); c != nil && c.named(raw) {
		raw = redactParams(raw, func(name string) bool { return c.params[strings.ToLower(name)] })
	}
	return r.Text(raw)
}

// Header redacts a header value: sensitive headers whole, others by
// what is found in them.
func (r *Redactor) Header(name, value string) string {
	if IsSensitiveHeader(name) {
		return Redacted
	}
	if r != nil {
		if c := r.creds.Load(); c != nil && c.headers[http.CanonicalHeaderKey(name)] {
			return Redacted
		}
	}
	return r.Text(value) // a nil Redactor returns value
}

// Event redacts the free-text fields of an event.
func (r *Redactor) Event(e *Event) {
	if r == nil {
		return
	}
	e.Path, e.Detail, e.Consumer = r.Text(e.Path), r.Text(e.Detail), r.Text(e.Consumer)
}
