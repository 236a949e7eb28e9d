package transcode

import (
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/genproto/googleapis/api/annotations"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rampart-gw/rampart/internal/grpcwire"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// testSet is the gRPC interop TestService with HTTP rules, as protoc
// writes a descriptor set without --include_imports: its imports come
// from the descriptors linked into the gateway.
func testSet(t testing.TB, rules map[string]*annotations.HttpRule) []byte {
	t.Helper()
	fdp := protodesc.ToFileDescriptorProto(testgrpc.File_grpc_testing_test_proto)
	for _, svc := range fdp.GetService() {
		for _, m := range svc.GetMethod() {
			if r := rules[m.GetName()]; r != nil {
				m.Options = &descriptorpb.MethodOptions{}
				proto.SetExtension(m.Options, annotations.E_Http, r)
			}
		}
	}
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fdp}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var shopRules = map[string]*annotations.HttpRule{
	"UnaryCall": {Pattern: &annotations.HttpRule_Post{Post: "/v1/unary/{response_size}"}, Body: "payload",
		AdditionalBindings: []*annotations.HttpRule{{Pattern: &annotations.HttpRule_Get{Get: "/v1/unary"}}}},
	"EmptyCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/empty"}},
}

func TestLoad(t *testing.T) {
	set, err := Load(testSet(t, shopRules), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(set.Rules()); got != 3 {
		t.Fatalf("%d rules: %v", got, set.Rules())
	}
	for _, tc := range []struct {
		rules map[string]*annotations.HttpRule
		svc   []string
		want  string
	}{
		{map[string]*annotations.HttpRule{}, nil, "no method of the services has a google.api.http rule"},
		{shopRules, []string{"grpc.testing.Nope"}, "service grpc.testing.Nope is not in the descriptor set"},
		{map[string]*annotations.HttpRule{"StreamingOutputCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/s"}}}, nil, "streams"},
		{map[string]*annotations.HttpRule{"UnaryCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/{nope}"}}}, nil, "has no field nope"},
		{map[string]*annotations.HttpRule{"UnaryCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/{payload}"}}}, nil, "must be a single scalar field"},
		{map[string]*annotations.HttpRule{"UnaryCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/x"}}, "EmptyCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/x"}}}, nil, "is bound to both"},
	} {
		if _, err := Load(testSet(t, tc.rules), tc.svc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	if _, err := Load([]byte("not a descriptor set"), nil); err == nil {
		t.Error("garbage loaded")
	}
}

// upstream answers a transcoded call as a gRPC server would, after
// checking what it was sent.
func upstream(t *testing.T, check func(*testgrpc.SimpleRequest), reply proto.Message, status, message string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/grpc.testing.TestService/UnaryCall" || len(body) < 5 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 {
			t.Errorf("the upstream got %s %s %x", r.Method, r.URL.Path, body)
		}
		var req testgrpc.SimpleRequest
		if err := proto.Unmarshal(body[5:], &req); err != nil {
			t.Error(err)
		}
		if check != nil {
			check(&req)
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(200)
		if reply != nil {
			b, _ := proto.Marshal(reply)
			_, _ = w.Write(grpcwire.Frame(nil, b))
		}
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", status)
		if message != "" {
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", message)
		}
	})
}

func serveTranscoded(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	set, err := Load(testSet(t, shopRules), nil)
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	st := &reqctx.State{MaxBodyBytes: 1 << 20}
	w := httptest.NewRecorder()
	New(set, 0).Wrap(h).ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), st)))
	return w
}

func TestStage(t *testing.T) {
	// path variable, body field, and the reply as proto3 JSON
	w := serveTranscoded(t, upstream(t, func(req *testgrpc.SimpleRequest) {
		if req.GetResponseSize() != 42 || string(req.GetPayload().GetBody()) != "hi" {
			t.Errorf("request %v", req)
		}
	}, &testgrpc.SimpleResponse{ServerId: "s1", Payload: &testgrpc.Payload{Body: []byte("ok")}}, "0", ""), "POST", "/v1/unary/42", `{"body":"aGk="}`)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || strings.TrimSpace(w.Body.String()) != `{"payload":{"body":"b2s="},"serverId":"s1"}` {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if len(w.Result().Trailer) > 0 || w.Header().Get("Grpc-Status") != "" {
		t.Fatalf("gRPC fields left: %v %v", w.Header(), w.Result().Trailer)
	}
	// query parameters, by proto or JSON name; an enum by name
	w = serveTranscoded(t, upstream(t, func(req *testgrpc.SimpleRequest) {
		if req.GetResponseSize() != 7 || !req.GetFillServerId() || req.GetResponseType() != testgrpc.PayloadType_COMPRESSABLE {
			t.Errorf("request %v", req)
		}
	}, &testgrpc.SimpleResponse{}, "0", ""), "GET", "/v1/unary?responseSize=7&fill_server_id=true&response_type=COMPRESSABLE", "")
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// the service's status: its message for a client's error, withheld
	// for its own
	w = serveTranscoded(t, upstream(t, nil, nil, "5", "no such order %E2%9C%93"), "GET", "/v1/unary", "")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "no such order ✓") || !strings.Contains(w.Body.String(), "NOT_FOUND") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = serveTranscoded(t, upstream(t, nil, nil, "13", "panic at db.go:12"), "GET", "/v1/unary", "")
	if w.Code != 500 || strings.Contains(w.Body.String(), "db.go") || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// requests that make no message
	for _, tc := range []struct {
		method, target, body string
		status               int
		want                 string
	}{
		{"GET", "/v1/unary?response_size=x", "", 400, "response_size takes a 32-bit integer"},
		{"GET", "/v1/unary?nope=1", "", 400, "has no field nope"},
		{"GET", "/v1/unary?response_size=1&response_size=2", "", 400, "is sent 2 times"},
		{"GET", "/v1/unary?payload=x", "", 400, "names a message field"},
		{"POST", "/v1/unary/1", `{"body": 5}`, 400, "is not the JSON this operation takes"},
		{"POST", "/v1/unary/1?response_size=2", `{}`, 400, "already sets"},
		{"DELETE", "/v1/unary", "", 405, "This operation takes GET"},
		{"GET", "/v1/other", "", 404, "No operation of this API is at GET /v1/other"},
	} {
		w := serveTranscoded(t, upstream(t, nil, nil, "0", ""), tc.method, tc.target, tc.body)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.target, w.Code, w.Body)
		}
	}
}

func TestOpenAPI(t *testing.T) {
	set, err := Load(testSet(t, shopRules), nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := set.OpenAPI("Test service")
	b, err := doc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// read back and validated as any OpenAPI document the gateway loads
	loaded, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Validate(t.Context()); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	post := loaded.Paths.Value("/v1/unary/{response_size}").Post
	if post == nil || post.OperationID != "TestService_UnaryCall" || post.RequestBody == nil || len(post.Parameters) < 2 ||
		post.Parameters[0].Value.In != "path" || post.Parameters[0].Value.Name != "response_size" {
		t.Fatalf("POST /v1/unary/{response_size}: %+v", post)
	}
	get := loaded.Paths.Value("/v1/unary").Get
	if get == nil || get.OperationID != "TestService_UnaryCall_2" || len(get.Parameters) < 3 || get.RequestBody != nil {
		t.Fatalf("GET /v1/unary: %+v", get)
	}
	if s := loaded.Components.Schemas["grpc.testing.SimpleResponse"]; s == nil || s.Value.Properties["serverId"] == nil {
		t.Fatalf("schemas: %v", loaded.Components.Schemas)
	}
}
