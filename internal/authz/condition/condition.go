// Package condition compiles and evaluates the CEL expressions of a
// policy's authorize.when: attribute-based access control. An expression
// is parsed, type-checked and cost-estimated when the config loads, so a
// typo, a type error or an expression that could be expensive is a
// validation error with its line and column, never a surprise on the
// request path. Evaluation is bounded by a runtime cost limit as well,
// and never panics.
//
// The variables, all typed:
//
//	request.method      string   GET, POST, ...
//	request.path        string   the path the client sent (decoded)
//	request.host        string   without the port
//	request.params      map(string, string)  the route's {param} values
//	request.query       map(string, string)  first value of each parameter
//	request.headers     map(string, string)  lower-case names; repeated values joined with ", "
//	request.ip          string   the client address (after trusted proxies)
//	request.time        timestamp
//	consumer.id         string   "" when anonymous
//	consumer.roles      list(string)
//	consumer.scopes     list(string)
//	consumer.attributes map(string, string)
//	consumer.authenticator string  the authenticator that accepted the credential
//	claims              map(string, dyn)  the token's claims; empty for API keys and certificates
//	tls.verified        bool     a client certificate was presented and verified
//	tls.subject         string   its subject common name
//	tls.san_uris        list(string)
//	tls.san_dns         list(string)
//	tls.fingerprint     string   SHA-256 of the certificate, hex
//	client.ja4          string   JA4 of the TLS ClientHello; "" on cleartext
//	client.user_agent   string
//	client.ua_family    string   chrome, edge, firefox, safari, curl, wget, python, go, java, node, postman, bot, other, ""
//	client.browser_claimed bool  the User-Agent claims a browser
//	client.inconsistencies list(string)  how a claimed browser does not look like one (see package fingerprint)
package condition

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/fingerprint"
	"github.com/rampart-gw/rampart/internal/route"
)

// MaxCost bounds an expression's cost, in CEL's units (about one per
// elementary operation, one per ten characters compared). It is checked
// against the worst case when the config loads and against the actual
// cost on every evaluation.
const MaxCost = 100_000

// Size bounds the estimate assumes; the gateway's limits enforce them.
const (
	maxString  = 8 << 10 // a header line, a path, a token
	maxEntries = 256     // headers, query parameters, claims, list items
)

// MaxSourceBytes bounds an expression's text.
const MaxSourceBytes = 4 << 10

var stringMap = cel.MapType(cel.StringType, cel.StringType)

// variables declares the environment.
var variables = []struct {
	name string
	typ  *cel.Type
}{
	{"request.method", cel.StringType},
	{"request.path", cel.StringType},
	{"request.host", cel.StringType},
	{"request.params", stringMap},
	{"request.query", stringMap},
	{"request.headers", stringMap},
	{"request.ip", cel.StringType},
	{"request.time", cel.TimestampType},
	{"consumer.id", cel.StringType},
	{"consumer.roles", cel.ListType(cel.StringType)},
	{"consumer.scopes", cel.ListType(cel.StringType)},
	{"consumer.attributes", stringMap},
	{"consumer.authenticator", cel.StringType},
	{"claims", cel.MapType(cel.StringType, cel.DynType)},
	{"tls.verified", cel.BoolType},
	{"tls.subject", cel.StringType},
	{"tls.san_uris", cel.ListType(cel.StringType)},
	{"tls.san_dns", cel.ListType(cel.StringType)},
	{"tls.fingerprint", cel.StringType},
	{"client.ja4", cel.StringType},
	{"client.user_agent", cel.StringType},
	{"client.ua_family", cel.StringType},
	{"client.browser_claimed", cel.BoolType},
	{"client.inconsistencies", cel.ListType(cel.StringType)},
}

// Issue is a problem with an expression, at a 1-based line and column
// of its text.
type Issue struct {
	Line, Col int
	Msg       string
}

// Compile compiles src in an environment of its own (about 10µs to
// make; a config holds a few conditions).
func Compile(src string) (*Condition, []Issue) {
	env, err := NewEnv()
	if err != nil {
		return nil, []Issue{{Line: 1, Col: 1, Msg: err.Error()}}
	}
	return env.Compile(src)
}

// Check compiles the condition src found at path in cfg, and returns
// each issue as an error where it is in the file.
func Check(cfg *config.Config, path, src string) config.Errors {
	var errs config.Errors
	_, issues := Compile(src)
	for _, is := range issues {
		errs = append(errs, &config.FieldError{Pos: cfg.ExprPos(path, is.Line, is.Col), Path: path, Msg: "condition: " + is.Msg})
	}
	return errs
}

// Env is the compiled environment; one serves every expression.
type Env struct{ env *cel.Env }

// NewEnv returns the environment.
func NewEnv() (*Env, error) {
	opts := []cel.EnvOption{
		cel.ParserExpressionSizeLimit(MaxSourceBytes),
		cel.ParserRecursionLimit(64),
		cel.CrossTypeNumericComparisons(true),
	}
	for _, v := range variables {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	return &Env{env: env}, nil
}

// Condition is a compiled expression, safe for concurrent use.
type Condition struct {
	Source string
	prg    cel.Program
	// MaxCost is the worst case the estimate found.
	MaxCost uint64
}

// Compile parses, type-checks and cost-checks src. The result must be a
// bool.
func (e *Env) Compile(src string) (*Condition, []Issue) {
	if strings.TrimSpace(src) == "" {
		return nil, []Issue{{Line: 1, Col: 1, Msg: "the condition is empty"}}
	}
	ast, iss := e.env.Compile(src)
	if iss.Err() != nil {
		var out []Issue
		for _, err := range iss.Errors() {
			out = append(out, Issue{Line: max(err.Location.Line(), 1), Col: max(err.Location.Column()+1, 1), Msg: err.Message})
		}
		return nil, out
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, []Issue{{Line: 1, Col: 1, Msg: fmt.Sprintf("the condition must be a bool, not %s: compare it, e.g. `... == \"x\"`", ast.OutputType())}}
	}
	est, err := e.env.EstimateCost(ast, sizes{})
	if err != nil {
		return nil, []Issue{{Line: 1, Col: 1, Msg: "the cost of the condition cannot be estimated: " + err.Error()}}
	}
	if est.Max > MaxCost {
		return nil, []Issue{{Line: 1, Col: 1, Msg: fmt.Sprintf("the condition could cost up to %d units per request, more than the limit of %d: avoid nested loops over headers, query or claims, and regular expressions over whole maps", est.Max, MaxCost)}}
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if !linear(ast) {
		// Loops and regular expressions are where the estimate's size
		// assumptions matter; their actual cost is tracked and cut off.
		// Other expressions cost time linear in their inputs, which the
		// server's header and URL limits bound, and skip the tracking.
		opts = append(opts, cel.CostLimit(MaxCost))
	}
	prg, err := e.env.Program(ast, opts...)
	if err != nil {
		return nil, []Issue{{Line: 1, Col: 1, Msg: err.Error()}}
	}
	return &Condition{Source: src, prg: prg, MaxCost: est.Max}, nil
}

// linear reports whether the expression has no comprehension (all,
// exists, map, filter ...) and no regular expression.
func linear(a *cel.Ast) bool {
	ok := true
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.ComprehensionKind:
			ok = false
		case celast.CallKind:
			if e.AsCall().FunctionName() == "matches" {
				ok = false
			}
		}
	}))
	return ok
}

// sizes tells the cost estimator how large inputs can be.
type sizes struct{}

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind:
		return &cost.SizeEstimate{Min: 0, Max: maxString}
	case types.MapKind, types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: maxEntries}
	}
	// dyn values inside claims may be strings, lists or maps.
	return &cost.SizeEstimate{Min: 0, Max: maxString}
}

func (sizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// ErrNotBool is returned when an evaluation does not yield a bool.
var ErrNotBool = errors.New("the condition did not evaluate to a bool")

// Eval evaluates the condition for in. An error (a missing map key, a
// type mismatch at run time, the cost limit) is returned as such: the
// caller refuses the request.
func (c *Condition) Eval(in *Input) (bool, error) {
	out, _, err := c.prg.Eval(&activation{in: in})
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, ErrNotBool
	}
	return bool(b), nil
}

// Input is what a condition sees of one request. Maps are built only for
// the variables an expression reads.
type Input struct {
	Request  *http.Request
	Path     string       // the decoded path the gateway routed on
	Match    *route.Match // the route match, for its parameters
	ClientIP string
	Now      time.Time

	ConsumerID    string
	Authenticator string
	Roles         []string
	Scopes        []string
	Attributes    map[string]string
	Claims        map[string]any

	JA4 string // of the TLS ClientHello; "" on cleartext
}

// activation resolves variables on demand.
type activation struct{ in *Input }

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	in := a.in
	r := in.Request
	switch name {
	case "request.method":
		return r.Method, true
	case "request.path":
		return in.Path, true
	case "request.host":
		return hostOnly(r.Host), true
	case "request.params":
		if in.Match == nil {
			return map[string]string{}, true
		}
		return in.Match.Params(), true
	case "request.query":
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			if len(v) > 0 {
				q[k] = v[0]
			}
		}
		return q, true
	case "request.headers":
		h := make(map[string]string, len(r.Header))
		for k, v := range r.Header {
			h[strings.ToLower(k)] = strings.Join(v, ", ")
		}
		return h, true
	case "request.ip":
		return in.ClientIP, true
	case "request.time":
		return types.Timestamp{Time: in.Now}, true
	case "consumer.id":
		return in.ConsumerID, true
	case "consumer.roles":
		return orEmpty(in.Roles), true
	case "consumer.scopes":
		return orEmpty(in.Scopes), true
	case "consumer.attributes":
		if in.Attributes == nil {
			return map[string]string{}, true
		}
		return in.Attributes, true
	case "consumer.authenticator":
		return in.Authenticator, true
	case "claims":
		if in.Claims == nil {
			return map[string]any{}, true
		}
		return in.Claims, true
	case "tls.verified":
		return r.TLS != nil && len(r.TLS.VerifiedChains) > 0, true
	case "tls.subject", "tls.san_uris", "tls.san_dns", "tls.fingerprint":
		return clientCert(r, name), true
	case "client.ja4":
		return in.JA4, true
	case "client.user_agent":
		return r.UserAgent(), true
	case "client.ua_family":
		return fingerprint.Family(r.UserAgent()), true
	case "client.browser_claimed":
		return fingerprint.Browser(fingerprint.Family(r.UserAgent())), true
	case "client.inconsistencies":
		return orEmpty(fingerprint.Inconsistencies(r.Header, fingerprint.Family(r.UserAgent()), in.JA4)), true
	}
	return nil, false
}

func clientCert(r *http.Request, name string) any {
	var uris, dns []string
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		switch name {
		case "tls.san_uris", "tls.san_dns":
			return []string{}
		}
		return ""
	}
	c := r.TLS.VerifiedChains[0][0]
	switch name {
	case "tls.subject":
		return c.Subject.CommonName
	case "tls.san_uris":
		for _, u := range c.URIs {
			uris = append(uris, u.String())
		}
		return orEmpty(uris)
	case "tls.san_dns":
		dns = append(dns, c.DNSNames...)
		return orEmpty(dns)
	}
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[:i], ":") {
		return h[:i]
	}
	return h
}
