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
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/method-not-allowed" || p["request_id"] != "req-1" || p["status"] != float64(405) || p["detail"] != "Use GET." {
		t.Errorf("body = %v", p)
	}
}

func TestRebase(t *testing.T) {
	for base, want := range map[string]string{
		"":                                 "tag:rampart-gw.github.io,2026:problems/not-found",
		"/portal/problems/":                "/portal/problems/not-found",
		"https://docs.example.com/errors/": "https://docs.example.com/errors/not-found",
		"urn:example:api-problems:":        "urn:example:api-problems:not-found",
	} {
		if got := New(NotFound, "x").Rebase(base).Type; got != want {
			t.Errorf("base %q: %q, want %q", base, got, want)
		}
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
	b.WriteString("## Type URIs\n\n")
	b.WriteString("A type is a prefix and the slug of its section below. The prefix is, in order:\n\n")
	b.WriteString("- `problems.type_base` when set: an absolute URI of your own documentation\n")
	b.WriteString("  (`https://developer.example.com/problems/`), or a path;\n")
	b.WriteString("- with the [portal](portal.md) on, its problem pages as a path\n")
	b.WriteString("  (`/portal/problems/not-found`), which a client resolves against the host it\n")
	b.WriteString("  called and so reaches the page that explains the problem;\n")
	b.WriteString("- otherwise `" + DefaultBase + "`: a `tag:` URI (RFC 4151), an\n")
	b.WriteString("  identifier that stays the same for good and sends no client to a host the\n")
	b.WriteString("  operator does not run.\n\n")
	b.WriteString("```yaml\n" + typeBaseExample + "```\n\n")
	b.WriteString("Compare types by their slug (the part after the prefix) when the prefix may\n")
	b.WriteString("differ between deployments. The admin API uses `problems.type_base` when it is an\n")
	b.WriteString("absolute URI, the `tag:` prefix otherwise.\n\n")
	b.WriteString("## Catalogue\n\n")
	b.WriteString("This file is generated from `internal/problem/catalogue.go` by\n`go test ./internal/problem -update`.\n\n")
	b.WriteString("| type | status | title |\n|---|---|---|\n")
	for _, ty := range Catalogue() {
		b.WriteString("| [`" + ty.Slug + "`](#" + ty.Slug + ") | " + itoa(ty.Status) + " | " + ty.Title + " |\n")
	}
	for _, ty := range Catalogue() {
		b.WriteString("\n### " + ty.Slug + "\n\n`" + ty.Slug + "`: " + itoa(ty.Status) + " " + ty.Title + "\n\n")
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

// typeBaseExample is quoted in docs/problems.md.
const typeBaseExample = `problems:
  type_base: https://developer.example.com/problems/   # your documentation
`

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
