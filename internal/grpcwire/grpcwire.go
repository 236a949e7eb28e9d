// Package grpcwire is what the gateway reads and writes of gRPC on the
// wire (doc/PROTOCOL-HTTP2.md of grpc/grpc): which requests are gRPC, the
// status codes and trailers that answer them, the grpc-timeout header,
// and the length-prefixed messages of a stream, whose size it bounds.
// It holds no generated code: the gateway passes messages through
// without decoding them.
package grpcwire

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Code is a gRPC status code (google.rpc.Code).
type Code uint32

// The gRPC status codes.
const (
	OK Code = iota
	Canceled
	Unknown
	InvalidArgument
	DeadlineExceeded
	NotFound
	AlreadyExists
	PermissionDenied
	ResourceExhausted
	FailedPrecondition
	Aborted
	OutOfRange
	Unimplemented
	Internal
	Unavailable
	DataLoss
	Unauthenticated
)

var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
	"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// String is the code's name, as grpcurl and the gRPC docs print it.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// ContentType is the Content-Type of the gateway's own gRPC answers.
const ContentType = "application/grpc"

// ContentTypes are the media types of gRPC calls as the gateway's rules
// list them (a WAF's allowed content types).
var ContentTypes = []string{"application/grpc", "application/grpc+proto"}

// IsGRPC reports whether a request's Content-Type is gRPC's:
// application/grpc, alone or with a +format suffix or parameters.
// gRPC-Web (application/grpc-web) is another protocol.
func IsGRPC(contentType string) bool { return isType(contentType, ContentType) }

// IsGRPCRequest reports whether r is a gRPC call.
func IsGRPCRequest(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) == 1 && IsGRPC(ct[0])
}

// Kind is the protocol of a call.
type Kind uint8

// The kinds of call.
const (
	NotCall Kind = iota
	GRPC         // application/grpc over HTTP/2
	Web          // gRPC-Web, binary messages (application/grpc-web)
	WebText      // gRPC-Web, messages in base64 (application/grpc-web-text)
)

// Web content types (grpc/grpc doc/PROTOCOL-WEB.md).
const (
	WebContentType     = "application/grpc-web"
	WebTextContentType = "application/grpc-web-text"
)

// KindOf is the kind of call r is, by its one Content-Type.
func KindOf(r *http.Request) Kind {
	ct := r.Header["Content-Type"]
	if len(ct) != 1 {
		return NotCall
	}
	switch {
	case IsGRPC(ct[0]):
		return GRPC
	case isType(ct[0], WebTextContentType):
		return WebText
	case isType(ct[0], WebContentType):
		return Web
	}
	return NotCall
}

// isType reports whether contentType is base, alone or with a +format
// suffix or parameters.
func isType(contentType, base string) bool {
	rest, ok := cutPrefixFold(contentType, base)
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// ResponseContentType is the Content-Type the gateway answers a call of
// kind k with.
func (k Kind) ResponseContentType() string {
	switch k {
	case Web:
		return WebContentType + "+proto"
	case WebText:
		return WebTextContentType + "+proto"
	}
	return ContentType
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// CodeForStatus is the gRPC code that says what an HTTP status of the
// gateway's own says: a refusal reaches a gRPC client as the code its
// library acts on (a retry on UNAVAILABLE, a new token on
// UNAUTHENTICATED), not as the HTTP status, which gRPC libraries map to
// codes only coarsely.
func CodeForStatus(status int) Code {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity,
		http.StatusRequestURITooLong, http.StatusLengthRequired:
		return InvalidArgument
	case http.StatusUnauthorized:
		return Unauthenticated
	case http.StatusForbidden:
		return PermissionDenied
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return Unimplemented
	case http.StatusGone:
		return NotFound
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return DeadlineExceeded
	case http.StatusConflict:
		return Aborted
	case http.StatusPreconditionFailed, http.StatusPreconditionRequired:
		return FailedPrecondition
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusRequestHeaderFieldsTooLarge:
		return ResourceExhausted
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return Unavailable
	}
	if status >= 500 {
		return Internal
	}
	return Unknown
}

// maxTimeoutDigits is grpc-timeout's limit: at most 8 digits.
const maxTimeoutDigits = 8

// ParseTimeout reads a grpc-timeout value: 1 to 8 digits and a unit
// (H, M, S, m, u, n).
func ParseTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > maxTimeoutDigits+1 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/int64(unit) {
		return math.MaxInt64, true // 8 digits of hours are more than an int64 of nanoseconds holds
	}
	return time.Duration(n) * unit, true
}

// FormatTimeout writes d as a grpc-timeout value: in the finest unit
// whose count fits 8 digits, rounded up, so the upstream never gets
// longer than d.
func FormatTimeout(d time.Duration) string {
	if d <= 0 {
		return "1n"
	}
	const limit = 99999999
	for _, u := range []struct {
		d time.Duration
		c byte
	}{{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'}, {time.Second, 'S'}, {time.Minute, 'M'}} {
		if n := ceilDiv(d, u.d); n <= limit {
			return strconv.FormatInt(n, 10) + string(u.c)
		}
	}
	return strconv.FormatInt(min(ceilDiv(d, time.Hour), limit), 10) + "H"
}

// ceilDiv is d/u rounded up, without overflow.
func ceilDiv(d, u time.Duration) int64 {
	n := int64(d / u)
	if d%u != 0 {
		n++
	}
	return n
}

// EncodeMessage percent-encodes a grpc-message value: bytes outside
// printable ASCII, and %, as %XX of their UTF-8.
func EncodeMessage(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c <= '~' && c != '%' {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
