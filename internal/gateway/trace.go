package gateway

import (
	"encoding/hex"
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

// randomHex returns n random bytes as lowercase hex. Trace and span ids
// need uniqueness, not secrecy: the runtime's per-thread ChaCha8 is
// enough and never blocks.
func randomHex(n int) string {
	var b [16]byte
	for i := 0; i < n; i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b[:n])
}

// NewRequestID returns a fresh 32-hex request id.
func NewRequestID() string { return randomHex(16) }

// traceparent returns the traceparent to send upstream: the inbound trace
// continued with the gateway as the new parent span, or a new trace.
func traceparent(inbound string) (traceID, out string) {
	tid, flags, ok := traceContext(inbound)
	if !ok {
		tid, flags = randomHex(16), "00"
	}
	return tid, "00-" + tid + "-" + randomHex(8) + "-" + flags
}
