package problem

import (
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate docs/problems.md")

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	Write(w, New(MethodNotAllowed, "Use GET.").With("Allow", "GET"), "req-1")
	if w.Code != 405 || w.Header().Get("Content-Type") != ContentType || w.Header().Get("Allow") != "GET" {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p["type"] != BaseURI+"method-not-allowed" || p["request_id"] != "req-1" || p["status"] != float64(405) || p["detail"] != "Use GET." {
		t.Errorf("body = %v", p)
	}
}

// TestProblemsDoc keeps docs/problems.md generated from the catalogue:
// one source of truth. Run `go test ./internal/problem -update` after
// changing the catalogue.
func TestProblemsDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Problem types\n\n")
	b.WriteString("Every response Rampart generates itself is `application/problem+json` (RFC 9457)\n")
	b.WriteString("with `type`, `title`, `status`, `detail` (what to do) and `request_id`; request\n")
	b.WriteString("validation errors add `errors: [{location, message}]`. A `type` URI never changes\n")
	b.WriteString("meaning. Quote the `request_id` when reporting a problem: the access log and the\n")
	b.WriteString("security events carry the same id.\n\n")
	b.WriteString("This file is generated from `internal/problem/catalogue.go` by\n`go test ./internal/problem -update`.\n\n")
	b.WriteString("| type | status | title |\n|---|---|---|\n")
	for _, ty := range Catalogue() {
		b.WriteString("| [`" + ty.Slug + "`](#" + ty.Slug + ") | " + itoa(ty.Status) + " | " + ty.Title + " |\n")
	}
	for _, ty := range Catalogue() {
		b.WriteString("\n## " + ty.Slug + "\n\n`" + ty.URI() + "`: " + itoa(ty.Status) + " " + ty.Title + "\n\n")
		b.WriteString("**Cause.** " + ty.Cause + "\n\n**Fix.** " + ty.Fix + "\n")
	}
	path := "../../docs/problems.md"
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != b.String() {
		t.Errorf("docs/problems.md is out of date with the catalogue; run go test ./internal/problem -update")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
