// Package hsm keeps private keys in a PKCS#11 token (a hardware security
// module, a cloud HSM, SoftHSM2 for tests): the gateway asks the token to
// sign and never holds the key. Keys are named by PKCS#11 URIs (RFC 7512)
// such as pkcs11:token=rampart;object=gateway-tls;type=private.
package hsm

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/rampart-gw/rampart/internal/problem"
)

// Scheme starts a PKCS#11 URI; a setting that takes a key file takes one
// of these instead.
const Scheme = "pkcs11:"

// IsURI reports whether s names a key in a token.
func IsURI(s string) bool { return strings.HasPrefix(s, Scheme) }

// URI is what Rampart reads of a PKCS#11 URI: the token, the key's
// label (object) and id, and the module the URI names, if any.
type URI struct {
	Token  string // token label
	Serial string // token serial
	Object string // CKA_LABEL
	ID     []byte // CKA_ID
	Type   string // private, secret, public, cert, data; "" for any
	Module string // module-path query attribute
}

// ParseURI reads an RFC 7512 URI: path attributes separated by ';',
// query attributes by '&', values percent-encoded. Attributes Rampart
// does not use (manufacturer, model, library-*) are accepted and
// ignored; pin-value is refused, as any inline secret is: the PIN is a
// secret of the config's pkcs11 section.
func ParseURI(s string) (URI, error) {
	var u URI
	if !IsURI(s) {
		return u, errors.New(`a PKCS#11 URI starts with "pkcs11:"`)
	}
	rest := s[len(Scheme):]
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	for _, attr := range split(path, ';') {
		k, v, ok := strings.Cut(attr, "=")
		if !ok {
			return u, fmt.Errorf("attribute %q has no value: write name=value", problem.Clip(attr, 40))
		}
		if seen[k] {
			return u, fmt.Errorf("attribute %s is given twice", k)
		}
		seen[k] = true
		val, err := url.PathUnescape(v)
		if err != nil {
			return u, fmt.Errorf("attribute %s: bad percent-encoding", k)
		}
		switch k {
		case "token":
			u.Token = val
		case "serial":
			u.Serial = val
		case "object":
			u.Object = val
		case "id":
			u.ID = []byte(val)
		case "type":
			switch val {
			case "private", "secret-key", "secret", "public", "cert", "data":
				u.Type = val
			default:
				return u, fmt.Errorf("type %q is not private, secret-key, public, cert or data", problem.Clip(val, 40))
			}
		case "manufacturer", "model", "library-manufacturer", "library-description", "library-version", "slot-manufacturer", "slot-description", "slot-id":
		default:
			return u, fmt.Errorf("unknown attribute %q", problem.Clip(k, 40))
		}
	}
	for _, attr := range split(query, '&') {
		k, v, _ := strings.Cut(attr, "=")
		val, err := url.QueryUnescape(v)
		if err != nil {
			return u, fmt.Errorf("attribute %s: bad percent-encoding", k)
		}
		switch k {
		case "module-path":
			u.Module = val
		case "pin-value":
			return u, errors.New("pin-value puts the PIN in the URI: give it as the pkcs11 section's pin, env:NAME or file:PATH")
		case "pin-source", "module-name":
			return u, fmt.Errorf("%s is not supported: give the module and the PIN in the pkcs11 section", k)
		default:
			return u, fmt.Errorf("unknown query attribute %q", problem.Clip(k, 40))
		}
	}
	if u.Object == "" && len(u.ID) == 0 {
		return u, errors.New("the URI names no key: give object=LABEL or id=ID")
	}
	return u, nil
}

// split splits s on sep, dropping empty parts.
func split(s string, sep byte) []string {
	var out []string
	for _, p := range strings.Split(s, string(sep)) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
