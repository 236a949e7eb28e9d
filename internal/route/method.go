package route

import "strings"

// Methods is a set of HTTP methods.
type Methods uint16

// The methods a route may name. GET implies HEAD.
const (
	GET Methods = 1 << iota
	HEAD
	POST
	PUT
	PATCH
	DELETE
	OPTIONS
	TRACE
	CONNECT

	AnyMethod Methods = 1<<iota - 1
)

var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// ParseMethod returns the set holding one method name (case-sensitive, as
// HTTP methods are).
func ParseMethod(s string) (Methods, bool) {
	for i, n := range methodNames {
		if n == s {
			return 1 << i, true
		}
	}
	return 0, false
}

// methodBit is ParseMethod for the request path: a switch, no loop.
func methodBit(s string) Methods {
	switch s {
	case "GET":
		return GET
	case "HEAD":
		return HEAD
	case "POST":
		return POST
	case "PUT":
		return PUT
	case "PATCH":
		return PATCH
	case "DELETE":
		return DELETE
	case "OPTIONS":
		return OPTIONS
	case "TRACE":
		return TRACE
	case "CONNECT":
		return CONNECT
	}
	return 0
}

// String renders the set as an Allow header value.
func (m Methods) String() string {
	var parts []string
	for i, n := range methodNames {
		if m&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}
