package schema

import (
	"errors"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"

	"github.com/getkin/kin-openapi/openapi3"
)

// formats are the string formats validation enforces besides date and
// date-time (kin-openapi's own): a value that does not match is a schema
// violation, and a validated uuid, ipv4 or ipv6 is one the WAF need not
// read (Typed). They are per stage, never kin-openapi's global registry.
var formats = map[string]openapi3.StringFormatValidator{
	"uuid":          openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562),
	"email":         formatFunc(validEmail),
	"uri":           formatFunc(validURI),
	"uri-reference": formatFunc(validURIReference),
	"hostname":      openapi3.NewRegexpFormatValidator(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))*$`),
	"ipv4":          formatFunc(func(s string) error { return ipOf(s, true) }),
	"ipv6":          formatFunc(func(s string) error { return ipOf(s, false) }),
}

type formatFunc func(string) error

func (f formatFunc) Validate(s string) error { return f(s) }

var errFormat = errors.New("does not match the format")

// validEmail accepts an addr-spec alone (RFC 5322), no display name or
// angle brackets.
func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return errors.New("is not an e-mail address (local@domain)")
	}
	return nil
}

// validURI accepts an absolute URI: a scheme, then the rest (RFC 3986).
func validURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || !uriScheme.MatchString(u.Scheme) || hasSpaceOrControl(s) {
		return errors.New("is not an absolute URI (scheme:rest)")
	}
	return nil
}

func validURIReference(s string) error {
	if _, err := url.Parse(s); err != nil || hasSpaceOrControl(s) {
		return errors.New("is not a URI reference")
	}
	return nil
}

var uriScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// ipOf accepts an IPv4 (v4) or IPv6 address in its usual text form, no
// zone.
func ipOf(s string, v4 bool) error {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is4() != v4 || a.Zone() != "" {
		return errFormat
	}
	return nil
}
