// Package gateway compiles config snapshots into the request path,
// serves them on the listeners, and swaps them atomically on reload.
package gateway

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/rampart-gw/rampart/internal/tracing"
)

// A Stage is one step of the request path, built from one config snapshot.
// Constructors parse and check everything; Wrap's handler never reads raw
// config, and keeps per-request data in reqctx.State, never in the stage.
type Stage interface {
	Wrap(next http.Handler) http.Handler
}

// Chain returns stages[0] wrapping stages[1] ... wrapping final.
func Chain(final http.Handler, stages ...Stage) http.Handler {
	for i := len(stages) - 1; i >= 0; i-- {
		final = stages[i].Wrap(final)
	}
	return final
}

// traced gives each stage a span of its own (tracing.Tracer.Stage).
func traced(t *tracing.Tracer, stages []Stage) []Stage {
	out := make([]Stage, len(stages))
	for i, s := range stages {
		out[i] = tracedStage{name: stageName(s), s: s, t: t}
	}
	return out
}

type tracedStage struct {
	name string
	s    Stage
	t    *tracing.Tracer
}

func (ts tracedStage) Wrap(next http.Handler) http.Handler {
	return ts.t.Stage(ts.name, ts.s.Wrap)(next)
}

// stageNames names spans after what a stage does, by its package.
var stageNames = map[string]string{"authn": "authenticate", "authz": "authorize", "ratelimit": "rate_limit", "bodyguard": "body_structure",
	"guard": "body_limit", "schema": "schema", "waf": "waf", "ipfilter": "ip_filter", "cors": "cors", "bots": "bots", "shed": "load_shedding",
	"secheaders": "security_headers", "identity": "identity", "respfilter": "response_filter", "fieldcrypt": "encrypt_fields"}

func stageName(s Stage) string {
	t := reflect.TypeOf(s)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
	if n, ok := stageNames[pkg]; ok {
		return n
	}
	return pkg
}
