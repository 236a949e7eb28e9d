// Package fingerprint describes a client from what it sends before and
// with its requests: the JA4 fingerprint of its TLS ClientHello, the
// family its User-Agent claims, and whether its headers are consistent
// with that claim. Bot rules and authorization conditions read them.
package fingerprint

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// JA4 computes the JA4 fingerprint (FoxIO's JA4+ suite, TLS client) of a
// ClientHello as Go's TLS server sees it.
func JA4(h *tls.ClientHelloInfo) string {
	var sigs []uint16
	for _, s := range h.SignatureSchemes {
		sigs = append(sigs, uint16(s))
	}
	return JA4Of(Hello{Versions: h.SupportedVersions, Ciphers: h.CipherSuites, Extensions: h.Extensions,
		SignatureAlgorithms: sigs, ALPN: h.SupportedProtos, SNI: h.ServerName != ""})
}

// Hello is what JA4 reads of a ClientHello, in wire order.
type Hello struct {
	Versions            []uint16 // supported_versions, or the legacy version
	Ciphers             []uint16
	Extensions          []uint16
	SignatureAlgorithms []uint16
	ALPN                []string
	SNI                 bool
	QUIC                bool
}

// grease reports a GREASE value (RFC 8701): 0x?a?a with equal bytes.
func grease(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// JA4Of computes JA4 from the parts of a ClientHello: a_b_c where a is
// protocol, version, SNI, cipher and extension counts and ALPN; b the
// truncated SHA-256 of the sorted ciphers; c that of the sorted
// extensions (less SNI and ALPN) and the signature algorithms in order.
// GREASE values are ignored throughout.
func JA4Of(h Hello) string {
	var b strings.Builder
	b.Grow(36)
	if h.QUIC {
		b.WriteByte('q')
	} else {
		b.WriteByte('t')
	}
	var top uint16
	for _, v := range h.Versions {
		if !grease(v) && v > top {
			top = v
		}
	}
	switch top {
	case tls.VersionTLS13:
		b.WriteString("13")
	case tls.VersionTLS12:
		b.WriteString("12")
	case tls.VersionTLS11:
		b.WriteString("11")
	case tls.VersionTLS10:
		b.WriteString("10")
	case 0x0300:
		b.WriteString("s3")
	default:
		b.WriteString("00")
	}
	if h.SNI {
		b.WriteByte('d')
	} else {
		b.WriteByte('i')
	}
	ciphers := hexList(h.Ciphers, nil)
	exts := hexList(h.Extensions, nil)
	b.WriteString(count2(len(ciphers)))
	b.WriteString(count2(len(exts)))
	b.WriteString(alpnChars(h.ALPN))
	b.WriteByte('_')
	slices.Sort(ciphers)
	b.WriteString(hash12(strings.Join(ciphers, ",")))
	b.WriteByte('_')
	rest := hexList(h.Extensions, func(v uint16) bool { return v == 0x0000 || v == 0x0010 })
	slices.Sort(rest)
	c := strings.Join(rest, ",")
	if sigs := hexList(h.SignatureAlgorithms, nil); len(sigs) > 0 {
		c += "_" + strings.Join(sigs, ",")
	}
	if len(rest) == 0 {
		b.WriteString("000000000000")
	} else {
		b.WriteString(hash12(c))
	}
	return b.String()
}

// hexList is vs as 4-digit lower-case hex, less GREASE and skip.
func hexList(vs []uint16, skip func(uint16) bool) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if grease(v) || (skip != nil && skip(v)) {
			continue
		}
		s := strconv.FormatUint(uint64(v), 16)
		out = append(out, strings.Repeat("0", 4-len(s))+s)
	}
	return out
}

func count2(n int) string {
	n = min(n, 99)
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

// alpnChars is the first and last character of the first ALPN value, or
// "00"; a value that does not start and end with an ASCII letter or
// digit gives the first and last hex digits of its bytes instead.
func alpnChars(alpn []string) string {
	if len(alpn) == 0 || alpn[0] == "" {
		return "00"
	}
	v := alpn[0]
	first, last := v[0], v[len(v)-1]
	if alnum(first) && alnum(last) {
		return string([]byte{first, last})
	}
	x := hex.EncodeToString([]byte{first, last})
	return x[:1] + x[3:]
}

func alnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func hash12(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
