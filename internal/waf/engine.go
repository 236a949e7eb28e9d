//go:build !re2_cgo

package waf

// RegexEngine names the engine behind the rule set's @rx operator: Go's
// regexp, through Coraza's own operator (with its literal prefilter). A
// build with -tags re2_cgo uses RE2 instead (rx_re2.go).
const RegexEngine = "go"
