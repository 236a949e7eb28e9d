//go:build re2_cgo

package waf

import (
	"regexp"

	re2 "github.com/wasilibs/go-re2"
)

// RegexEngine names the engine behind the rule set's @rx operator: RE2
// (through cgo and the system's libre2), whose DFA runs the CRS's large
// alternations in time linear in the input, without Go's NFA per-thread
// capture bookkeeping. It more than halves the WAF's cost per request
// (docs/benchmarks.md).
const RegexEngine = "re2"

// compileFast compiles expr for valid UTF-8 input with RE2.
func compileFast(expr string, _ *regexp.Regexp) (matcher, error) {
	return re2.Compile(expr)
}
