package gateway

import (
	"math/rand/v2"
)

// validRequestID reports whether an inbound X-Request-Id is safe to keep
// and pass on: 1-128 characters of [A-Za-z0-9._:-].
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// traceContext parses a W3C traceparent (version 00) and returns its
// trace id and flags; ok is false for anything malformed.
func traceContext(tp string) (traceID, flags string, ok bool) {
	// 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>
	if len(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || tp[:2] != "00" {
		return "", "", false
	}
	traceID, parent, flags := tp[3:35], tp[36:52], tp[53:55]
	if !lowerHex(traceID) || !lowerHex(parent) || !lowerHex(flags) || allZero(traceID) || allZero(parent) {
		return "", "", false
	}
	return traceID, flags, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// appendRandomHex appends n random bytes (n <= 16) as lowercase hex.
func appendRandomHex(b []byte, n int) []byte {
	a, c := rand.Uint64(), rand.Uint64()
	for i := range n {
		v := a
		if i >= 8 {
			v = c
		}
		x := byte(v >> (8 * (i % 8)))
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}

const hexDigits = "0123456789abcdef"

// randomHex returns n random bytes as lowercase hex. Trace and span ids
// need uniqueness, not secrecy: the runtime's per-thread ChaCha8 is
// enough and never blocks.
func randomHex(n int) string {
	var buf [32]byte
	return string(appendRandomHex(buf[:0], n))
}

// NewRequestID returns a fresh 32-hex request id.
func NewRequestID() string { return randomHex(16) }

// traceparent returns the traceparent to send upstream: the inbound trace
// continued with the gateway as the new parent span, or a new trace.
func traceparent(inbound string) (traceID, out string) {
	var buf [55]byte
	b := append(buf[:0], "00-"...)
	tid, flags, ok := traceContext(inbound)
	if ok {
		b = append(b, tid...)
	} else {
		b, flags = appendRandomHex(b, 16), "00"
	}
	b = append(b, '-')
	b = appendRandomHex(b, 8)
	b = append(b, '-')
	b = append(b, flags...)
	out = string(b)
	return out[3:35], out
}
