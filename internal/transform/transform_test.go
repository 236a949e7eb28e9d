package transform

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		src, err string
		refs     int
	}{
		{src: "plain", refs: 0},
		{src: "{{ consumer.id }}", refs: 1},
		{src: "t-{{claims.tenant}}/{{ params.id | default \"0\" }}", refs: 2},
		{src: `{{ "{{" }} literal`, refs: 0},
		{src: "{{ header.X-Tenant }}", refs: 1},
		{src: "{{ consumer.attributes.team }}", refs: 1},
		{src: "{{ consumr.id }}", err: `column 1: "consumr.id" is not a value`},
		{src: "ab{{ consumer.name }}", err: "column 3: consumer.name is not a value; consumer has id"},
		{src: "{{ client.ip", err: "column 1: {{ is not closed"},
		{src: "x }}", err: "column 3: }} without {{"},
		{src: "{{ claims.a | upper }}", err: "only default"},
		{src: "{{ claims.a..b }}", err: "empty name"},
		{src: "{{ header.X:Y }}", err: "not a header name"},
	}
	for _, tt := range tests {
		tpl, err := Parse(tt.src)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %v, want error containing %q", tt.src, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := len(tpl.Refs()); got != tt.refs {
			t.Errorf("Parse(%q): %d holes, want %d", tt.src, got, tt.refs)
		}
	}
}

// look is a request whose consumer is ann, with a numeric uid claim.
func look(r *Ref) (any, bool) {
	switch r.String() {
	case "claims.uid":
		return float64(42), true
	case "consumer.id":
		return "ann", true
	}
	return nil, false
}

func TestRender(t *testing.T) {
	tests := []struct{ src, text, json, err string }{
		{src: "{{ consumer.id }}", text: "ann", json: `"ann"`},
		{src: "u{{ claims.uid }}", text: "u42", json: "u42"},
		{src: `{{ claims.tenant | default "acme" }}`, text: "acme", json: `"acme"`},
		{src: "{{ claims.tenant }}", err: "no value for claims.tenant"},
	}
	for _, tt := range tests {
		tpl, err := Parse(tt.src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tpl.Render(nil, look)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Render(%q) error %v, want %q", tt.src, err, tt.err)
			}
			continue
		}
		gotJSON, _ := tpl.RenderJSON(nil, look)
		if string(got) != tt.text || string(gotJSON) != tt.json {
			t.Errorf("Render(%q) = %q, %q; want %q, %q", tt.src, got, gotJSON, tt.text, tt.json)
		}
	}
}

func TestBodyEdits(t *testing.T) {
	tests := []struct {
		name  string
		edits config.BodyEdits
		in    string
		want  string
		err   string
	}{
		{name: "set new and nested", edits: config.BodyEdits{Set: map[string]string{"owner": "{{ consumer.id }}", "meta.source": "gw"}},
			in: `{"a":1}`, want: `{"a":1,"meta":{"source":"gw"},"owner":"ann"}`},
		{name: "set replaces every duplicate, in place", edits: config.BodyEdits{Set: map[string]string{"owner": "{{ consumer.id }}"}},
			in: `{"owner":"eve","b":2,"owner":"mallory"}`, want: `{"owner":"ann","b":2}`},
		{name: "escaped name matches", edits: config.BodyEdits{Set: map[string]string{"owner": "x"}},
			in: `{"\u006fwner":"eve"}`, want: `{"owner":"x"}`},
		{name: "set_json keeps the claim's type", edits: config.BodyEdits{SetJSON: map[string]string{"uid": "{{ claims.uid }}", "tags": `["a", {{ consumer.id }}]`}},
			in: `{}`, want: `{"tags":["a","ann"],"uid":42}`},
		{name: "remove patterns", edits: config.BodyEdits{Remove: []string{"items[*].cost", "**.debug"}},
			in: `{"items":[{"sku":"a","cost":1},{"cost":2}],"x":{"debug":true,"y":[{"debug":1}]}}`, want: `{"items":[{"sku":"a"},{}],"x":{"y":[{}]}}`},
		{name: "rename moves", edits: config.BodyEdits{Rename: map[string]string{"user.name": "name", "gone": "here"}},
			in: `{"user":{"name":"ann","id":1},"name":"old"}`, want: `{"user":{"id":1},"name":"ann"}`},
		{name: "untouched bytes kept", edits: config.BodyEdits{Set: map[string]string{"z": "1"}},
			in: ` { "a" : 1.50e2 , "s":"\u00e9\n" } `, want: `{"a":1.50e2,"s":"\u00e9\n","z":"1"}`},
		{name: "through a non-object", edits: config.BodyEdits{Set: map[string]string{"a.b": "1"}},
			in: `{"a":[1]}`, err: "field a.b: its parent is not an object"},
		{name: "index through an object", edits: config.BodyEdits{Set: map[string]string{"a[0].b": "1"}},
			in: `{"a":{"0":1}}`, err: "field a[0].b: a step goes through a value that is not an array"},
		{name: "top level array", edits: config.BodyEdits{Set: map[string]string{"a": "1"}},
			in: `[1]`, err: "field a: its parent is not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &compiler{ctx: Context{Authenticated: true}}
			be := c.body("body", &tt.edits)
			if len(c.errs) > 0 {
				t.Fatal(c.errs[0].err)
			}
			sets, err := renderSets(be, look)
			if err != nil {
				t.Fatal(err)
			}
			d := new(doc)
			root, err := d.parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			err = be.apply(d, root, sets)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(d.appendJSON(nil, root)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		tr   config.Transform
		ctx  Context
		path string
		err  string
	}{
		{name: "owned request header", tr: config.Transform{Request: &config.RequestTransform{Headers: &config.FieldEdits{Set: map[string]string{"x-forwarded-for": "1.2.3.4"}}}},
			path: "t.request.headers.set.x-forwarded-for", err: "X-Forwarded-For is the gateway's own header"},
		{name: "owned response header", tr: config.Transform{Response: &config.ResponseTransform{Headers: &config.FieldEdits{Remove: []string{"Strict-Transport-Security"}}}},
			path: "t.response.headers.remove[0]", err: "gateway's own header"},
		{name: "consumer on a public route", tr: config.Transform{Request: &config.RequestTransform{Headers: &config.FieldEdits{Set: map[string]string{"X-User": "{{ consumer.id }}"}}}},
			path: "t.request.headers.set.X-User", err: "authenticates no one"},
		{name: "consumer with a shared cache", ctx: Context{Authenticated: true, Cached: true, SharedCache: true},
			tr:   config.Transform{Request: &config.RequestTransform{Headers: &config.FieldEdits{Set: map[string]string{"X-User": "{{ claims.sub }}"}}}},
			path: "t.request.headers.set.X-User", err: "cache is shared"},
		{name: "client ip with a cache", ctx: Context{Cached: true},
			tr:   config.Transform{Request: &config.RequestTransform{Query: &config.FieldEdits{Set: map[string]string{"ip": "{{ client.ip }}"}}}},
			path: "t.request.query.set.ip", err: "client.ip differs per client"},
		{name: "param not captured", ctx: Context{Params: []string{"id"}},
			tr:   config.Transform{Request: &config.RequestTransform{Body: &config.BodyEdits{Set: map[string]string{"x": "{{ params.name }}"}}}},
			path: "t.request.body.set.x", err: "captures {name}"},
		{name: "set_json not JSON", tr: config.Transform{Request: &config.RequestTransform{Body: &config.BodyEdits{SetJSON: map[string]string{"x": `"id-{{ route.name }}"`}}}},
			path: "t.request.body.set_json.x", err: "is not JSON text"},
		{name: "overlapping", tr: config.Transform{Request: &config.RequestTransform{Body: &config.BodyEdits{Set: map[string]string{"a": "1", "a.b": "2"}}}},
			path: "t.request.body", err: "fields a and a.b overlap"},
		{name: "wildcard set", tr: config.Transform{Request: &config.RequestTransform{Body: &config.BodyEdits{Set: map[string]string{"a[*]": "1"}}}},
			path: "t.request.body.set.a[*]", err: "names one place only"},
		{name: "bad method", tr: config.Transform{Request: &config.RequestTransform{Method: "CONNECT"}},
			path: "t.request.method", err: "not a method"},
		{name: "bad status", tr: config.Transform{Response: &config.ResponseTransform{Status: map[string]int{"502": 204}}},
			path: "t.response.status.502", err: "not 204 or 304"},
		{name: "bad error class", tr: config.Transform{Response: &config.ResponseTransform{ReplaceErrors: []string{"3xx"}}},
			path: "t.response.replace_errors[0]", err: "not an error status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := compile("t", &tt.tr, tt.ctx)
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			if errs[0].path != tt.path || !strings.Contains(errs[0].err.Error(), tt.err) {
				t.Errorf("error at %s: %v; want at %s containing %q", errs[0].path, errs[0].err, tt.path, tt.err)
			}
		})
	}
}

func TestEditQuery(t *testing.T) {
	e := &fieldEdits{remove: []string{"debug"}, rename: [][2]string{{"q", "search"}}}
	set, _ := Parse("{{ consumer.id }}")
	e.set = []named{{name: "user", t: set}}
	add, _ := Parse("b")
	e.add = []named{{name: "tag", t: add}}
	look := func(*Ref) (any, bool) { return "a&b", true }
	got, err := editQuery("q=x%20y&debug=1&tag=a&user=mallory&%64ebug=2&keep=%2F", e, look)
	if err != nil {
		t.Fatal(err)
	}
	if want := "search=x%20y&tag=a&keep=%2F&user=a%26b&tag=b"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if n := countQuery("a=1&%61=2&b=3", "a"); n != 2 {
		t.Errorf("countQuery = %d, want 2", n)
	}
}

// serve runs a request through a transform in front of upstream.
func serve(t *testing.T, tr *config.Transform, ctx Context, id *reqctx.Identity, r *http.Request, upstream http.HandlerFunc) (*httptest.ResponseRecorder, *reqctx.State) {
	t.Helper()
	s, errs := compile("transform", tr, ctx)
	if len(errs) > 0 {
		t.Fatal(errs[0].err)
	}
	s.o.Count = func(string) {}
	st := &reqctx.State{Identity: id, MaxBodyBytes: 1 << 20, Events: observe.NewBus(nil, nil, nil)}
	st.RequestID, st.Route = "req-1", "r"
	w := httptest.NewRecorder()
	s.Wrap(upstream).ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), st)))
	return w, st
}

func TestRequestStage(t *testing.T) {
	tr := &config.Transform{Request: &config.RequestTransform{
		Method:  "POST",
		Headers: &config.FieldEdits{Set: map[string]string{"X-Tenant": "{{ claims.tenant }}"}, Remove: []string{"X-Debug"}},
		Query:   &config.FieldEdits{Set: map[string]string{"v": "2"}},
		Body:    &config.BodyEdits{Set: map[string]string{"owner": "{{ consumer.id }}"}, Remove: []string{"admin"}},
	}}
	id := &reqctx.Identity{Consumer: "ann", Claims: map[string]any{"tenant": "acme"}}
	var got struct {
		method, query string
		body          []byte
	}
	upstream := func(w http.ResponseWriter, r *http.Request) {
		got.method, got.query = r.Method, r.URL.RawQuery
		got.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(204)
	}
	r := httptest.NewRequest("PUT", "/x?v=1", strings.NewReader(`{"owner":"mallory","admin":true,"n":1}`))
	r.Header.Set("Content-Type", "application/json")
	w, st := serve(t, tr, Context{Authenticated: true}, id, r, upstream)
	if w.Code != 204 || got.method != "POST" || got.query != "v=2" || string(got.body) != `{"owner":"ann","n":1}` {
		t.Errorf("got %d %s ?%s %s", w.Code, got.method, got.query, got.body)
	}
	if vs, _ := st.UpstreamValues("X-Tenant"); !reflect.DeepEqual(vs, []string{"acme"}) {
		t.Errorf("X-Tenant = %v", vs)
	}
	if vs, ok := st.UpstreamValues("X-Debug"); !ok || vs != nil {
		t.Errorf("X-Debug not removed: %v %v", vs, ok)
	}

	// fail closed: a claim the credential lacks, a body that is not JSON
	for _, tc := range []struct {
		id     *reqctx.Identity
		ct     string
		status int
		slug   string
	}{
		{&reqctx.Identity{Consumer: "ann"}, "application/json", 403, "forbidden"},
		{id, "text/plain", 415, "unsupported-media-type"},
	} {
		r := httptest.NewRequest("POST", "/x", strings.NewReader(`{"a":1}`))
		r.Header.Set("Content-Type", tc.ct)
		called := false
		w, _ := serve(t, tr, Context{Authenticated: true}, tc.id, r, func(http.ResponseWriter, *http.Request) { called = true })
		if called || w.Code != tc.status || !strings.Contains(w.Body.String(), tc.slug) {
			t.Errorf("%s: got %d %s (upstream called: %v)", tc.ct, w.Code, w.Body, called)
		}
	}
}

func TestResponseStage(t *testing.T) {
	tr := &config.Transform{Response: &config.ResponseTransform{
		Status:        map[string]int{"502": 503},
		Headers:       &config.FieldEdits{Set: map[string]string{"X-Api-Version": "2"}, Remove: []string{"X-Internal"}},
		Body:          &config.BodyEdits{Rename: map[string]string{"user_name": "name"}, Remove: []string{"internal"}},
		ReplaceErrors: []string{"5xx"},
	}}
	up := func(status int, ct, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.Header().Set("X-Internal", "node-7")
			w.Header().Set("Etag", `"abc"`)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	w, _ := serve(t, tr, Context{}, nil, httptest.NewRequest("GET", "/", nil), up(200, "application/json", `{"user_name":"ann","internal":1}`))
	if w.Code != 200 || w.Body.String() != `{"name":"ann"}` || w.Header().Get("X-Api-Version") != "2" || w.Header().Get("X-Internal") != "" || w.Header().Get("Etag") != `W/"abc"` {
		t.Errorf("edited: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w, st := serve(t, tr, Context{}, nil, httptest.NewRequest("GET", "/", nil), up(502, "text/html", "<pre>Traceback: secret.py line 3</pre>"))
	var p map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	if w.Code != 503 || w.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(w.Body.String(), "Traceback") ||
		p["status"] != float64(503) || st.Problem != "upstream-error" || w.Header().Get("X-Api-Version") != "2" {
		t.Errorf("replaced: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w, _ = serve(t, tr, Context{}, nil, httptest.NewRequest("GET", "/", nil), up(200, "application/json", `{"a":`))
	if w.Code != 502 || !strings.Contains(w.Body.String(), "response-not-filtered") {
		t.Errorf("invalid JSON: %d %s", w.Code, w.Body)
	}
	w, _ = serve(t, tr, Context{}, nil, httptest.NewRequest("GET", "/", nil), up(404, "text/plain", "no such thing"))
	if w.Code != 404 || w.Body.String() != "no such thing" {
		t.Errorf("4xx passed: %d %s", w.Code, w.Body)
	}
}

// FuzzDoc holds the editing reader to encoding/json: it accepts exactly
// what encoding/json accepts, and writes back a document that means the
// same.
func FuzzDoc(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",true,null,{"b":[]}]`, `{"a":"\u00e9\ud800","a":2}`, ` 1e5 `, `{"a" 1}`, `[1,]`, `"\x01"`, `{"\u0061":{"b":-0.5}}`, `{"b":[1,{"a":2}],"a":3,"c":{"a":1}}`, `{"b":1,"b":[2],"c":0,"c":[4]}`, `{"p":{"y":[1,{"a":[]}],"q":{ "a" : 2 }},"b":{"y":[3]}}`} {
		f.Add([]byte(s))
	}
	set, err := fieldpath.Compile([]string{"**.a"})
	if err != nil {
		f.Fatal(err)
	}
	shallow, err := fieldpath.Compile([]string{"*.y[0]"})
	if err != nil {
		f.Fatal(err)
	}
	pathB, _ := fieldpath.Exact("b")
	pathC, _ := fieldpath.Exact("c")
	pathC0, _ := fieldpath.Exact("c[0]")
	f.Fuzz(func(t *testing.T, in []byte) {
		d := new(doc)
		root, err := d.parse(in)
		if valid := json.Valid(in); valid != (err == nil) {
			t.Fatalf("parse error %v, json.Valid %v for %q", err, valid, in)
		}
		if err != nil {
			return
		}
		out := d.appendJSON(nil, root)
		a, errA := decode(in)
		b, errB := decode(out)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("%q written back as %q", in, out)
		}
		same := func(step string, want any) {
			out = d.appendJSON(nil, root)
			if c, err := decode(out); err != nil || !reflect.DeepEqual(c, want) {
				t.Fatalf("%s: %q became %q", step, in, out)
			}
		}
		// the edits, made in place on the document's runs, must leave
		// every other value as it was: checked against the same edits on
		// encoding/json's reading
		// a pattern of fixed depth expands the containers it enters one
		// level at a time
		d.remove(root, shallow, shallow.Start())
		if m, ok := a.(map[string]any); ok {
			for _, v := range m {
				if o, ok := v.(map[string]any); ok {
					if y, ok := o["y"].([]any); ok && len(y) > 0 {
						o["y"] = y[1:]
					}
				}
			}
		}
		same("removing *.y[0]", a)
		d.remove(root, set, set.Start())
		want := withoutKey(a, "a")
		m, isObject := want.(map[string]any)
		if isObject {
			if v, ok := m["b"]; ok { // rename b to c
				delete(m, "b")
				m["c"] = v
			}
			v, err := d.take(root, pathB, "b")
			if err == nil && v >= 0 {
				err = d.setAt(root, pathC, "c", v)
			}
			if err != nil {
				t.Fatalf("renaming b to c in %q: %v", in, err)
			}
		}
		same("removing **.a, renaming b to c", want)
		if x, ok := m["c"].([]any); ok && len(x) > 0 { // set c[0] to 7
			x[0] = json.Number("7")
			seven, err := d.parse([]byte("7"))
			if err == nil {
				err = d.setAt(root, pathC0, "c[0]", seven)
			}
			if err != nil {
				t.Fatalf("setting c[0] in %q: %v", in, err)
			}
			same("setting c[0]", want)
		}
	})
}

// withoutKey is v without the members named key, at any depth.
func withoutKey(v any, key string) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, key)
		for k, e := range v {
			v[k] = withoutKey(e, key)
		}
	case []any:
		for i, e := range v {
			v[i] = withoutKey(e, key)
		}
	}
	return v
}

// decode reads a document as encoding/json does, numbers kept as text.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	return v, d.Decode(&v)
}

func TestRenderString(t *testing.T) {
	tpl, err := Parse("v={{ header.X }}")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"plain", `quo"te`, `back\slash`, "new\nline", "é", "\xff"} {
		got, err := tpl.RenderString([]byte("prefix"), func(*Ref) (any, bool) { return v, true })
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal("v=" + v)
		var back, wantBack string
		_ = json.Unmarshal(got[len("prefix"):], &back)
		_ = json.Unmarshal(want, &wantBack)
		if string(got[:len("prefix")]) != "prefix" || back != wantBack {
			t.Errorf("RenderString(%q) = %s, want %s", v, got, want)
		}
	}
}

// FuzzEditQuery holds the query edits to net/url's reading: what the
// upstream parses from the edited query is what it would have parsed
// from the client's, with the removed parameter gone, the renamed one
// renamed and the set one set.
func FuzzEditQuery(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=1&a=2&%61=3", "q=x%20y&debug", "b=%zz&a=1", "&&a=&=b", "c=1;d=2"} {
		f.Add(s)
	}
	set, _ := Parse("v")
	e := &fieldEdits{remove: []string{"a"}, rename: [][2]string{{"b", "c"}}, set: []named{{name: "d", t: set, fix: []string{"v"}}}}
	f.Fuzz(func(t *testing.T, raw string) {
		before, err := url.ParseQuery(raw)
		if err != nil {
			return // the router refuses what net/url cannot read
		}
		out, err := editQuery(raw, e, func(*Ref) (any, bool) { return nil, false })
		if err != nil {
			t.Fatal(err)
		}
		after, err := url.ParseQuery(out)
		if err != nil {
			t.Fatalf("%q edited to %q, which does not parse: %v", raw, out, err)
		}
		want := url.Values{}
		for k, vs := range before {
			switch k {
			case "a", "c", "d":
			case "b":
				want["c"] = vs
			default:
				want[k] = vs
			}
		}
		want["d"] = []string{"v"}
		if !reflect.DeepEqual(after, want) {
			t.Fatalf("%q edited to %q: %v, want %v", raw, out, after, want)
		}
	})
}
