//go:build !re2_cgo

package waf

import "regexp"

// RegexEngine names the engine behind the rule set's @rx operator: Go's
// regexp. A build with -tags re2_cgo uses RE2 instead (rx_re2.go).
const RegexEngine = "go"

// compileFast is Go's regexp for every input in this build.
func compileFast(_ string, re *regexp.Regexp) (matcher, error) {
	return re, nil
}
