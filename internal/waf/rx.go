package waf

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"rsc.io/binaryregexp"
)

// rxFlags are the flags every @rx pattern is compiled with: those of
// ModSecurity v2, the engine the CRS is written and tested against
// (PCRE_DOTALL | PCRE_DOLLAR_ENDONLY): a dot matches a newline, and ^ and
// $ match at the ends of the value only. Coraza and libmodsecurity 3 add
// multi-line mode, where ^ also matches after every newline; a rule that
// means "a value that starts with punctuation, then UPDATE <word>" then
// fires on every numbered or bulleted line of a note ("\n1. Select a
// vendor", "\n- [ ] update the CRM"). The CRS project names the
// difference a source of false positives and of needless work
// (coreruleset/coreruleset#3277); Coraza offers the same choice behind a
// build tag (coraza.rule.no_regex_multiline). Here it holds for every
// build, so `go run` and `make build` judge a request alike.
const rxFlags = "(?s)"

// Coraza keeps one operator registry per process; this operator stands
// in for Coraza's own in every build.
func init() { plugins.RegisterOperator("rx", newRxOperator) }

// matcher is what the operator needs of a compiled expression; Go's
// regexp, RE2 and binaryregexp all have it.
type matcher interface {
	MatchString(string) bool
	FindStringSubmatchIndex(string) []int
}

// rxOperator is the rule set's @rx: the build's regex engine (RegexEngine)
// for valid UTF-8 input, and Go's regexp for the rest. RE2 stops reading
// at the first byte that is not UTF-8, where Go reads on with U+FFFD in
// its place; a prefix of junk bytes must never hide an attack from the
// rules, so input that is not valid UTF-8 goes to Go's regexp, as with
// stock Coraza.
type rxOperator struct {
	fast   matcher // valid UTF-8 input
	slow   matcher // anything else
	minLen int     // no shorter input can match
}

type rxCompiled struct {
	fast, slow matcher
	minLen     int
}

func newRxOperator(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	c, err := memoize(o.Memoizer, "rampart-rx:"+o.Arguments, func() (any, error) {
		if bytePattern(o.Arguments) {
			// As Coraza does: a pattern that names bytes outside UTF-8
			// (\xff ...) matches bytes, not runes, and takes no flags.
			re, err := binaryregexp.Compile(o.Arguments)
			if err != nil {
				return nil, err
			}
			return &rxCompiled{fast: re, slow: re}, nil
		}
		expr := rxFlags + o.Arguments
		slow, err := regexp.Compile(expr)
		if err != nil {
			return nil, err
		}
		fast, err := compileFast(expr, slow)
		if err != nil {
			return nil, err
		}
		return &rxCompiled{fast: fast, slow: slow, minLen: minLength(slow)}, nil
	})
	if err != nil {
		return nil, err
	}
	rc := c.(*rxCompiled)
	return &rxOperator{fast: rc.fast, slow: rc.slow, minLen: rc.minLen}, nil
}

// Evaluate matches value and, when the rule captures, hands capture
// groups 0-8 to the transaction (TX.0 ... TX.8), as Coraza's rx does.
func (o *rxOperator) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if len(value) < o.minLen {
		return false // most short values (ids, numbers, flags) end here, without a call into C
	}
	m := o.fast
	if !utf8.ValidString(value) {
		m = o.slow
	}
	if !m.MatchString(value) {
		return false
	}
	if !tx.Capturing() {
		return true
	}
	loc := m.FindStringSubmatchIndex(value)
	if loc == nil {
		return false
	}
	for i := 0; i < len(loc)/2 && i < 9; i++ {
		if loc[2*i] >= 0 {
			tx.CaptureField(i, value[loc[2*i]:loc[2*i+1]])
		} else {
			tx.CaptureField(i, "")
		}
	}
	return true
}

func memoize(m plugintypes.Memoizer, key string, fn func() (any, error)) (any, error) {
	if m == nil {
		return fn()
	}
	return m.Do(key, fn)
}

// bytePattern reports whether a regular expression names bytes that are
// not UTF-8 (\xff, or \xc3 without its continuation byte): with its \xHH
// escapes taken as bytes, the pattern is not valid UTF-8. Coraza matches
// such patterns on bytes rather than runes, and so must any other engine
// that stands in for its @rx.
func bytePattern(expr string) bool {
	decoded := make([]byte, 0, len(expr))
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '\\' || i+1 == len(expr) {
			decoded = append(decoded, c)
			continue
		}
		if expr[i+1] != 'x' {
			decoded = append(decoded, c, expr[i+1]) // \\, \d, \( ...: not a byte
			i++
			continue
		}
		digits, next := "", i+2
		if next < len(expr) && expr[next] == '{' {
			end := next + 1
			for end < len(expr) && expr[end] != '}' {
				end++
			}
			digits, next = expr[next+1:min(end, len(expr))], end+1
		} else {
			digits, next = expr[next:min(next+2, len(expr))], next+2
		}
		v, err := strconv.ParseUint(digits, 16, 32)
		switch {
		case err != nil:
			decoded = append(decoded, expr[i:min(next, len(expr))]...) // malformed: the compiler will say
		case v <= 0xff:
			decoded = append(decoded, byte(v))
		default:
			decoded = utf8.AppendRune(decoded, rune(v))
		}
		i = next - 1
	}
	return !utf8.Valid(decoded)
}

// minLength is a lower bound on the bytes of any input re matches: each
// rune it must match takes at least one byte (an invalid byte stands for
// U+FFFD in Go's regexp, so a rune is not counted by its UTF-8 length).
func minLength(re *regexp.Regexp) int {
	p, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return 0
	}
	return minRunes(p.Simplify())
}

func minRunes(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minRunes(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minRunes(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minRunes(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minRunes(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	default: // empty matches, anchors, word boundaries, star, quest, no match
		return 0
	}
}
