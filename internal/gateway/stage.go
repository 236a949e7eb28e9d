// Package gateway compiles config snapshots into the request path,
// serves them on the listeners, and swaps them atomically on reload.
package gateway

import "net/http"

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
