// Package gateway compiles config snapshots into the request path,
// serves them on the listeners, and swaps them atomically on reload.
package gateway

import (
	"net/http"

	"github.com/rampart-gw/rampart/internal/tracing"
)

// A Stage is one step of the request path, built from one config snapshot.
// Constructors parse and check everything; Wrap's handler never reads raw
// config, and keeps per-request data in reqctx.State, never in the stage.
type Stage interface {
	Wrap(next http.Handler) http.Handler
	// Name is what the stage does, in one word: its span's name, and
	// its row in docs/architecture.md (TestArchitectureListsStages).
	Name() string
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
		out[i] = tracedStage{name: s.Name(), s: s, t: t}
	}
	return out
}

type tracedStage struct {
	name string
	s    Stage
	t    *tracing.Tracer
}

func (ts tracedStage) Name() string { return ts.name }

func (ts tracedStage) Wrap(next http.Handler) http.Handler {
	return ts.t.Stage(ts.name, ts.s.Wrap)(next)
}
