// Package fieldpath names places in JSON documents and edits them.
//
// A pattern is a dot-separated list of steps:
//
//	name      an object member of that name (["a.b"] for names with . [ ] or quotes)
//	*         any object member
//	[N]       array element N (from 0)
//	[*]       any array element
//	**        any number of members and elements, none included
//
// so `user.ssn`, `items[*].internal_cost`, `**.password` and `[*].token`
// (in a top-level array). A Set of patterns is compiled into one small
// automaton that Rewrite steps through while it walks a document once.
package fieldpath

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
)

type stepKind uint8

const (
	stepName stepKind = iota
	stepAnyName
	stepIndex
	stepAnyIndex
	stepDeep
	stepEnd // the pattern matched
)

type step struct {
	kind  stepKind
	name  string
	index int
}

// MaxSteps bounds the steps of all a Set's patterns together (each
// pattern's steps plus one): a State is one machine word.
const MaxSteps = 64

// State is where a walk is in every pattern at once: a set of steps.
type State uint64

// Empty reports whether no pattern can match at or below the place.
func (s State) Empty() bool { return s == 0 }

// Set is a compiled list of patterns.
type Set struct {
	patterns []string
	steps    []step
	closure  []State // closure[i]: step i and, past each ** (which may match nothing), the steps after it
	start    State
	ends     State
	deep     State // the ** steps
}

// Compile parses patterns into a Set.
func Compile(patterns []string) (*Set, error) {
	s := &Set{patterns: patterns}
	var firsts []int
	for _, p := range patterns {
		steps, err := Parse(p)
		if err != nil {
			return nil, err
		}
		if len(s.steps)+len(steps)+1 > MaxSteps {
			return nil, fmt.Errorf("too many field patterns: their steps (each pattern's, plus one) exceed %d", MaxSteps)
		}
		firsts = append(firsts, len(s.steps))
		s.steps = append(s.steps, steps...)
		s.steps = append(s.steps, step{kind: stepEnd})
		s.ends |= 1 << (len(s.steps) - 1)
	}
	s.closure = make([]State, len(s.steps))
	for i := len(s.steps) - 1; i >= 0; i-- {
		s.closure[i] = 1 << i
		switch s.steps[i].kind {
		case stepDeep:
			s.deep |= 1 << i
			s.closure[i] |= s.closure[i+1]
		}
	}
	for k, first := range firsts {
		if s.Matched(s.closure[first]) {
			return nil, fmt.Errorf("field pattern %q names the whole document", patterns[k])
		}
		s.start |= s.closure[first]
	}
	return s, nil
}

// Patterns are the patterns the set was compiled from.
func (s *Set) Patterns() []string { return s.patterns }

// Start is the state at the document's root.
func (s *Set) Start() State {
	if s == nil {
		return 0
	}
	return s.start
}

// Matched reports whether st has completed a pattern: the value reached
// is one the patterns name.
func (s *Set) Matched(st State) bool { return s != nil && st&s.ends != 0 }

// Deep reports whether a pattern at st can match at any depth below (a
// ** is under way).
func (s *Set) Deep(st State) bool { return s != nil && st&s.deep != 0 }

// Member steps st into the object member called name.
func (s *Set) Member(st State, name []byte) State {
	next := st & s.deep // ** goes on matching below
	for rest := st &^ s.ends; rest != 0; rest &= rest - 1 {
		i := bits.TrailingZeros64(uint64(rest))
		switch sp := &s.steps[i]; sp.kind {
		case stepAnyName:
			next |= s.closure[i+1]
		case stepName:
			if sp.name == string(name) {
				next |= s.closure[i+1]
			}
		case stepDeep:
			next |= s.closure[i]
		}
	}
	return next
}

// Element steps st into array element i.
func (s *Set) Element(st State, index int) State {
	next := st & s.deep
	for rest := st &^ s.ends; rest != 0; rest &= rest - 1 {
		i := bits.TrailingZeros64(uint64(rest))
		switch sp := &s.steps[i]; sp.kind {
		case stepAnyIndex:
			next |= s.closure[i+1]
		case stepIndex:
			if sp.index == index {
				next |= s.closure[i+1]
			}
		case stepDeep:
			next |= s.closure[i]
		}
	}
	return next
}

// Parse parses one pattern into its steps.
func Parse(p string) ([]step, error) {
	if p == "" {
		return nil, fmt.Errorf("empty field pattern")
	}
	var steps []step
	rest := p
	for i := 0; rest != ""; i++ {
		if i > 0 && rest[0] != '[' {
			if rest[0] != '.' || len(rest) == 1 {
				return nil, fmt.Errorf("field pattern %q: expected . or [ at %q", p, rest)
			}
			rest = rest[1:]
		}
		var sp step
		var err error
		sp, rest, err = parseStep(rest)
		if err != nil {
			return nil, fmt.Errorf("field pattern %q: %v", p, err)
		}
		if sp.kind == stepDeep && len(steps) > 0 && steps[len(steps)-1].kind == stepDeep {
			continue // ** ** is **
		}
		steps = append(steps, sp)
	}
	return steps, nil
}

func parseStep(s string) (step, string, error) {
	switch {
	case strings.HasPrefix(s, `["`):
		end := strings.Index(s[2:], `"]`)
		if end < 0 {
			return step{}, "", fmt.Errorf(`unterminated ["name"]`)
		}
		name := s[2 : 2+end]
		if strings.ContainsAny(name, `"\`) {
			return step{}, "", fmt.Errorf(`a ["name"] cannot hold " or \`)
		}
		return step{kind: stepName, name: name}, s[2+end+2:], nil
	case strings.HasPrefix(s, "[*]"):
		return step{kind: stepAnyIndex}, s[3:], nil
	case s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return step{}, "", fmt.Errorf("unterminated [")
		}
		n, err := strconv.Atoi(s[1:end])
		if err != nil || n < 0 || s[1] == '+' {
			return step{}, "", fmt.Errorf("[%s] is not an array index: use [N] (from 0) or [*]", s[1:end])
		}
		return step{kind: stepIndex, index: n}, s[end+1:], nil
	}
	end := strings.IndexAny(s, ".[")
	if end < 0 {
		end = len(s)
	}
	name := s[:end]
	switch {
	case name == "":
		return step{}, "", fmt.Errorf("empty name")
	case name == "**":
		return step{kind: stepDeep}, s[end:], nil
	case name == "*":
		return step{kind: stepAnyName}, s[end:], nil
	case strings.ContainsAny(name, `]*"\`):
		return step{}, "", fmt.Errorf(`name %q: use ["name"] for names with ] * " or \`, name)
	}
	return step{kind: stepName, name: name}, s[end:], nil
}

// Check compiles a config's list of field patterns at path, each pattern
// (reported at path[i]), then the list together: a config.Check for the
// packages whose settings hold patterns.
func Check(cfg *config.Config, path string, patterns []string) config.Errors {
	var errs config.Errors
	for i, f := range patterns {
		if _, err := Compile([]string{f}); err != nil {
			errs = append(errs, cfg.FieldError(fmt.Sprintf("%s[%d]", path, i), err))
		}
	}
	if _, err := Compile(patterns); len(errs) == 0 && err != nil {
		errs = append(errs, cfg.FieldError(path, err))
	}
	return errs
}

// PathStep is one step of an exact path: an object member (Name), or an
// array element (Index, when Name is "" and IsIndex).
type PathStep struct {
	Name    string
	Index   int
	IsIndex bool
}

// Exact parses a pattern that names one place: member names and [N]
// steps, no wildcards.
func Exact(p string) ([]PathStep, error) {
	steps, err := Parse(p)
	if err != nil {
		return nil, err
	}
	out := make([]PathStep, len(steps))
	for i, sp := range steps {
		switch sp.kind {
		case stepName:
			out[i] = PathStep{Name: sp.name}
		case stepIndex:
			out[i] = PathStep{Index: sp.index, IsIndex: true}
		default:
			return nil, fmt.Errorf("field path %q: names one place only, without * or **", p)
		}
	}
	return out, nil
}
