package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// startGRPCServer runs the gRPC upstream (test/grpcserver) and returns its
// process and address.
func startGRPCServer(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := startBin(t, grpcBinary, args...)
	var addr string
	waitFor(t, 20*time.Second, "grpc upstream", func() bool {
		s := p.stderr.String()
		if i := strings.Index(s, "grpcserver listening on "); i >= 0 {
			addr = strings.TrimSpace(strings.SplitN(s[i+len("grpcserver listening on "):], "\n", 2)[0])
			return true
		}
		return false
	})
	return p, addr
}

// grpcClient dials the gateway's listener at addr as a gRPC client.
func grpcClient(t *testing.T, addr string, creds credentials.TransportCredentials) testgrpc.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

// refusal is what a gRPC client learns of a gateway refusal.
type refusal struct {
	code    codes.Code
	msg     string
	info    *errdetails.ErrorInfo
	retry   *errdetails.RetryInfo
	trailer metadata.MD
}

func refusalOf(t *testing.T, err error, trailer metadata.MD) refusal {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("not a gRPC status: %v", err)
	}
	r := refusal{code: st.Code(), msg: st.Message(), trailer: trailer}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			r.info = d
		case *errdetails.RetryInfo:
			r.retry = d
		}
	}
	return r
}

func TestGRPC(t *testing.T) {
	srv, addr := startGRPCServer(t, "-name", "backend-1")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
store: {driver: embedded, path: rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  grpc:
    protocol: grpc
    targets: [{url: "http://%s"}]
    health_check: {active: {interval: 200ms, healthy_threshold: 1, unhealthy_threshold: 1}}
policies:
  callers:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 4/m, burst: 4, name: unary}]
routes:
  - name: unary
    match: {paths: ["/grpc.testing.TestService/UnaryCall"]}
    upstream: grpc
    policy: callers
    grpc: {max_message_bytes: 64KiB}
  - name: testservice
    match: {paths: ["/grpc.testing.TestService/{method}"]}
    upstream: grpc
    policy: public
    grpc: {max_message_bytes: 64KiB, max_timeout: 1s}
  - name: reflection
    match: {paths: ["/grpc.reflection.v1.ServerReflection/{method}", "/grpc.reflection.v1alpha.ServerReflection/{method}"]}
    upstream: grpc
    policy: public
    grpc: {}
`, addr))
	code, key, errs := g.cli("keys", "create", "--consumer", "alice")
	if code != 0 {
		t.Fatalf("keys create: %s", errs)
	}
	key = strings.TrimSpace(key)
	c := grpcClient(t, g.http, insecure.NewCredentials())
	ctx := context.Background()
	withKey := metadata.AppendToOutgoingContext(ctx, "x-api-key", key)
	waitFor(t, 10*time.Second, "the new key (store sync)", func() bool {
		_, err := c.UnaryCall(withKey, &testgrpc.SimpleRequest{})
		return status.Code(err) != codes.Unauthenticated
	})

	t.Run("unary, authenticated, identity passed on", func(t *testing.T) {
		var hdr, trl metadata.MD
		res, err := c.UnaryCall(withKey, &testgrpc.SimpleRequest{ResponseSize: 10}, grpc.Header(&hdr), grpc.Trailer(&trl))
		if err != nil {
			t.Fatal(err)
		}
		if res.GetUsername() != "alice" || res.GetServerId() != "backend-1" || len(res.GetPayload().GetBody()) != 10 {
			t.Fatalf("reply %v", res)
		}
		if len(hdr.Get("seen-x-api-key")) != 0 || len(hdr.Get("seen-x-rampart-consumer")) != 1 {
			t.Fatalf("the upstream saw %v", hdr)
		}
		// no grpc-timeout from the client: the route's cap (5m default)
		if ms, _ := strconv.Atoi(hdr.Get("deadline-ms")[0]); ms < 250_000 || ms > 300_000 {
			t.Fatalf("the upstream's deadline: %v ms", ms)
		}
		if len(hdr.Get("x-request-id")) != 1 {
			t.Fatalf("no request id in %v", hdr)
		}
	})

	t.Run("refusals are gRPC statuses", func(t *testing.T) {
		var trl metadata.MD
		_, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.Trailer(&trl))
		r := refusalOf(t, err, trl)
		if r.code != codes.Unauthenticated || r.info == nil || r.info.Reason != "UNAUTHORIZED" || r.info.Domain != "rampart" ||
			!strings.Contains(r.info.Metadata["type"], "unauthorized") || r.info.Metadata["request_id"] == "" || len(trl.Get("rampart-problem-type")) != 1 {
			t.Fatalf("without a key: %+v", r)
		}
		// an unknown service: the gateway's 404 is UNIMPLEMENTED
		cc, _ := grpc.NewClient("passthrough:///"+g.http, grpc.WithTransportCredentials(insecure.NewCredentials()))
		defer cc.Close()
		err = cc.Invoke(ctx, "/grpc.testing.UnimplementedService/UnimplementedCall", &testgrpc.Empty{}, &testgrpc.Empty{})
		if r := refusalOf(t, err, nil); r.code != codes.Unimplemented {
			t.Fatalf("unknown service: %+v", r)
		}
		// the upstream's own status passes through, message and all
		_, err = c.UnaryCall(withKey, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.FailedPrecondition), Message: "not yet ✓"}})
		if r := refusalOf(t, err, nil); r.code != codes.FailedPrecondition || r.msg != "not yet ✓" {
			t.Fatalf("the upstream's status: %+v", r)
		}
		// the rate limit (4 a minute, 3 used) is RESOURCE_EXHAUSTED with
		// a RetryInfo
		var last refusal
		for range 2 {
			if _, err = c.UnaryCall(withKey, &testgrpc.SimpleRequest{}); err != nil {
				last = refusalOf(t, err, nil)
				break
			}
		}
		if last.code != codes.ResourceExhausted || last.retry == nil || last.retry.RetryDelay.AsDuration() < time.Second {
			t.Fatalf("over the rate limit: %+v", last)
		}
	})

	t.Run("streaming, all three kinds", func(t *testing.T) {
		out, err := c.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3, IntervalUs: 50_000}}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; ; i++ {
			m, err := out.Recv()
			if err == io.EOF {
				if i != 4 {
					t.Fatalf("%d messages", i-1)
				}
				break
			}
			if err != nil || len(m.GetPayload().GetBody()) != i {
				t.Fatalf("message %d: %v %v", i, m, err)
			}
		}
		in, err := c.StreamingInputCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{100, 2000, 30000} {
			if err := in.Send(&testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, n)}}); err != nil {
				t.Fatal(err)
			}
		}
		if res, err := in.CloseAndRecv(); err != nil || res.GetAggregatedPayloadSize() != 32100 {
			t.Fatalf("client stream: %v %v", res, err)
		}
		// bidirectional, in lock step: each reply comes before the next
		// message is sent, so nothing may wait for the request stream
		// to end
		bidi, err := c.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if err := bidi.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: int32(i)}}}); err != nil {
				t.Fatal(err)
			}
			if m, err := bidi.Recv(); err != nil || len(m.GetPayload().GetBody()) != i {
				t.Fatalf("round %d: %v %v", i, m, err)
			}
		}
		if err := bidi.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := bidi.Recv(); err != io.EOF {
			t.Fatalf("end of the call: %v", err)
		}
	})

	t.Run("deadlines", func(t *testing.T) {
		// the client's deadline reaches the upstream
		var hdr metadata.MD
		short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
		defer cancel()
		out, err := c.StreamingOutputCall(short, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}}})
		if err == nil {
			_, err = out.Recv()
			hdr, _ = out.Header()
		}
		if ms, _ := strconv.Atoi(strings.Join(hdr.Get("deadline-ms"), "")); err != nil || ms <= 0 || ms > 700 {
			t.Fatalf("the upstream's deadline: %v ms (%v)", hdr.Get("deadline-ms"), err)
		}
		// the route caps it at 1s: a 3s stream ends DEADLINE_EXCEEDED
		// after its first messages
		long, cancel2 := context.WithTimeout(ctx, 10*time.Second)
		defer cancel2()
		began := time.Now()
		out, err = c.StreamingOutputCall(long, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1, IntervalUs: 300_000}, {Size: 1, IntervalUs: 2_700_000}}})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			if _, err = out.Recv(); err != nil {
				break
			}
			got++
		}
		if status.Code(err) != codes.DeadlineExceeded || got != 1 || time.Since(began) > 2500*time.Millisecond {
			t.Fatalf("over the route's cap: %v after %d messages and %v", err, got, time.Since(began))
		}
	})

	t.Run("message size", func(t *testing.T) {
		// before the reply: the status alone (Trailers-Only)
		in, err := c.StreamingInputCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = in.Send(&testgrpc.StreamingInputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, 100<<10)}})
		_, err = in.CloseAndRecv()
		if r := refusalOf(t, err, nil); r.code != codes.ResourceExhausted || !strings.Contains(r.msg, "65536") {
			t.Fatalf("an oversize message: %+v", r)
		}
		// mid-stream: the reply has begun, so the status comes as
		// trailers
		bidi, err := c.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := bidi.Send(&testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 5}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := bidi.Recv(); err != nil {
			t.Fatal(err)
		}
		_ = bidi.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: make([]byte, 100<<10)}})
		_, err = bidi.Recv()
		if r := refusalOf(t, err, bidi.Trailer()); r.code != codes.ResourceExhausted || r.info == nil || r.info.Reason != "PAYLOAD_TOO_LARGE" {
			t.Fatalf("an oversize message mid-stream: %+v", r)
		}
	})

	t.Run("not gRPC", func(t *testing.T) {
		r := do(t, client, "POST", g.url("/grpc.testing.TestService/EmptyCall"), strings.NewReader("{}"), map[string]string{"Content-Type": "application/json"})
		problemOf(t, r, http.StatusUnsupportedMediaType)
	})

	t.Run("grpcurl, through reflection", func(t *testing.T) {
		bin := grpcurl(t)
		out, err := exec.Command(bin, "-plaintext", g.http, "list").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "grpc.testing.TestService") {
			t.Fatalf("grpcurl list: %v\n%s", err, out)
		}
		out, err = exec.Command(bin, "-plaintext", "-H", "x-api-key: "+key, "-d", `{"response_size": 3, "fill_server_id": true}`, g.http, "grpc.testing.TestService/UnaryCall").CombinedOutput()
		if err != nil && !strings.Contains(string(out), "ResourceExhausted") || err == nil && !strings.Contains(string(out), `"serverId": "backend-1"`) {
			t.Fatalf("grpcurl call: %v\n%s", err, out)
		}
		out, _ = exec.Command(bin, "-plaintext", "-d", `{}`, g.http, "grpc.testing.TestService/UnaryCall").CombinedOutput()
		if !strings.Contains(string(out), "Code: Unauthenticated") || !strings.Contains(string(out), "X-Api-Key") {
			t.Fatalf("grpcurl without a key:\n%s", out)
		}
	})

	t.Run("health", func(t *testing.T) {
		if err := srv.cmd.Process.Signal(syscall.SIGUSR1); err != nil { // NOT_SERVING
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the target marked unhealthy", func() bool {
			_, err := c.EmptyCall(ctx, &testgrpc.Empty{})
			return status.Code(err) == codes.Unavailable
		})
		if err := srv.cmd.Process.Signal(syscall.SIGUSR1); err != nil { // SERVING
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the target healthy again", func() bool {
			_, err := c.EmptyCall(ctx, &testgrpc.Empty{})
			return err == nil
		})
	})
	g.metricsHave(t, `rampart_requests_total{`, `route="testservice"`)
}

// TestGRPCOverTLS runs a call over TLS at both ends: h2 by ALPN from the
// client, and to an upstream serving gRPC over TLS only.
func TestGRPCOverTLS(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	_, addr := startGRPCServer(t, "-name", "tls-backend", "-cert", p.certFile, "-key", p.keyFile)
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: server.pem, key_file: server.key}]
admin: {listen: "127.0.0.1:0"}
upstreams:
  grpc:
    protocol: grpc
    targets: [{url: "https://%s"}]
    tls: {ca_file: ca.pem, server_name: localhost}
routes:
  - {name: svc, match: {paths: ["/grpc.testing.TestService/{method}"]}, upstream: grpc, policy: public, grpc: {}}
`, addr))
	c := grpcClient(t, g.https, credentials.NewTLS(p.clientTLS()))
	res, err := c.UnaryCall(context.Background(), &testgrpc.SimpleRequest{ResponseSize: 7})
	if err != nil || res.GetServerId() != "tls-backend" || len(res.GetPayload().GetBody()) != 7 {
		t.Fatalf("over TLS: %v %v", res, err)
	}
	// HTTP/1.1 to a gRPC route is refused: gRPC needs HTTP/2
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	r := do(t, h1, "POST", "https://"+g.https+"/grpc.testing.TestService/EmptyCall", strings.NewReader("\x00\x00\x00\x00\x00"), map[string]string{"Content-Type": "application/grpc"})
	if r.status != http.StatusOK || r.header.Get("Grpc-Status") != strconv.Itoa(int(codes.Internal)) {
		t.Fatalf("gRPC over HTTP/1.1: %d %v", r.status, r.header)
	}
}

// grpcurl finds the grpcurl binary `make test` installs.
func grpcurl(t *testing.T) string {
	return toolBinary(t, "grpcurl", "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3")
}

// webCall is a gRPC-Web reply as a browser's client reads it: the
// messages of its body, and the trailers from its last frame (or its
// headers, for a status-only reply).
type webCall struct {
	status   int
	header   http.Header
	messages [][]byte
	trailers map[string]string
}

// callWeb makes a gRPC-Web call over HTTP/1.1, text or binary, and
// reads the reply by the gRPC-Web protocol.
func callWeb(t *testing.T, url string, text bool, msg proto.Message, hdr map[string]string) webCall {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	body := append([]byte{0, 0, 0, 0, 0}, b...)
	bin.BigEndian.PutUint32(body[1:5], uint32(len(b)))
	ct := "application/grpc-web+proto"
	if text {
		ct = "application/grpc-web-text"
		body = []byte(base64.StdEncoding.EncodeToString(body))
	}
	h := map[string]string{"Content-Type": ct, "X-Grpc-Web": "1", "X-User-Agent": "grpc-web-javascript/0.1"}
	for k, v := range hdr {
		h[k] = v
	}
	r := do(t, client, "POST", url, bytes.NewReader(body), h)
	out := webCall{status: r.status, header: r.header, trailers: map[string]string{}}
	data := r.body
	if text {
		// each chunk of a streamed reply may be padded: decode by groups
		var dec []byte
		for i := 0; i+4 <= len(data); i += 4 {
			g, err := base64.StdEncoding.DecodeString(string(data[i : i+4]))
			if err != nil {
				t.Fatalf("reply is not base64: %q", data)
			}
			dec = append(dec, g...)
		}
		data = dec
	}
	for len(data) >= 5 {
		n := int(bin.BigEndian.Uint32(data[1:5]))
		if len(data) < 5+n {
			t.Fatalf("a cut frame in %x", data)
		}
		if data[0]&0x80 != 0 {
			for _, line := range strings.Split(strings.TrimSpace(string(data[5:5+n])), "\r\n") {
				k, v, _ := strings.Cut(line, ": ")
				out.trailers[k] = v
			}
		} else {
			out.messages = append(out.messages, data[5:5+n])
		}
		data = data[5+n:]
	}
	if len(data) != 0 {
		t.Fatalf("trailing bytes %x", data)
	}
	if s := r.header.Get("Grpc-Status"); s != "" {
		out.trailers["grpc-status"] = s
		out.trailers["grpc-message"] = r.header.Get("Grpc-Message")
	}
	return out
}

func TestGRPCWeb(t *testing.T) {
	_, addr := startGRPCServer(t, "-name", "web-backend")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  grpc: {protocol: grpc, targets: [{url: "http://%s"}]}
policies:
  browsers:
    cors:
      allow_origins: ["https://app.example"]
      allow_headers: [content-type, x-grpc-web, x-user-agent, grpc-timeout]
      expose_headers: [grpc-status, grpc-message]
routes:
  - name: web
    match: {paths: ["/grpc.testing.TestService/{method}"]}
    upstream: grpc
    policy: browsers
    grpc: {web: true, max_message_bytes: 1KiB}
`, addr))
	url := g.url("/grpc.testing.TestService/")
	origin := map[string]string{"Origin": "https://app.example"}
	for _, text := range []bool{false, true} {
		c := callWeb(t, url+"UnaryCall", text, &testgrpc.SimpleRequest{ResponseSize: 5, FillServerId: true}, origin)
		var res testgrpc.SimpleResponse
		if c.status != 200 || len(c.messages) != 1 || proto.Unmarshal(c.messages[0], &res) != nil || res.GetServerId() != "web-backend" ||
			len(res.GetPayload().GetBody()) != 5 || c.trailers["grpc-status"] != "0" {
			t.Fatalf("text %v: %+v", text, c)
		}
		if want := "application/grpc-web+proto"; text && c.header.Get("Content-Type") != "application/grpc-web-text+proto" || !text && c.header.Get("Content-Type") != want {
			t.Fatalf("text %v: content type %q", text, c.header.Get("Content-Type"))
		}
		if !strings.Contains(c.header.Get("Access-Control-Expose-Headers"), "Grpc-Status") && !strings.Contains(strings.ToLower(c.header.Get("Access-Control-Expose-Headers")), "grpc-status") {
			t.Fatalf("the status is not exposed to scripts: %v", c.header)
		}
		// a server stream: every message, then the trailers
		c = callWeb(t, url+"StreamingOutputCall", text, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2, IntervalUs: 20_000}, {Size: 3}}}, origin)
		if len(c.messages) != 3 || c.trailers["grpc-status"] != "0" {
			t.Fatalf("text %v, stream: %+v", text, c)
		}
		// the upstream's error status, in the body's trailers
		c = callWeb(t, url+"UnaryCall", text, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such order"}}, origin)
		if c.trailers["grpc-status"] != "5" || c.trailers["grpc-message"] != "no such order" {
			t.Fatalf("text %v, upstream error: %+v", text, c)
		}
		// the gateway's own refusal: a status-only reply a browser reads
		c = callWeb(t, url+"UnaryCall", text, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: make([]byte, 4<<10)}}, origin)
		if c.status != 200 || c.trailers["grpc-status"] != "8" || len(c.messages) != 0 || !strings.HasPrefix(c.header.Get("Content-Type"), "application/grpc-web") {
			t.Fatalf("text %v, oversize: %+v", text, c)
		}
	}
	// the browser's preflight
	r := do(t, client, "OPTIONS", url+"UnaryCall", nil, map[string]string{"Origin": "https://app.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-grpc-web,x-user-agent"})
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	// a text body that is not base64 is refused as malformed
	bad := do(t, client, "POST", url+"UnaryCall", strings.NewReader("not*base64!"), map[string]string{"Content-Type": "application/grpc-web-text"})
	if bad.header.Get("Grpc-Status") != strconv.Itoa(int(codes.InvalidArgument)) {
		t.Fatalf("bad text: %d %v %s", bad.status, bad.header, bad.body)
	}
	// plain gRPC still works on the same route
	c := grpcClient(t, g.http, insecure.NewCredentials())
	if _, err := c.EmptyCall(context.Background(), &testgrpc.Empty{}); err != nil {
		t.Fatal(err)
	}
}

// writeDescriptorSet writes the interop TestService with HTTP rules as a
// descriptor set, as protoc --descriptor_set_out writes one.
func writeDescriptorSet(t *testing.T, path string, rules map[string]*annotations.HttpRule) {
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
	set := &descriptorpb.FileDescriptorSet{}
	for _, dep := range []protoreflect.FileDescriptor{testgrpc.File_grpc_testing_empty_proto, testgrpc.File_grpc_testing_messages_proto} {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(dep))
	}
	set.File = append(set.File, fdp)
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGRPCTranscode(t *testing.T) {
	_, addr := startGRPCServer(t, "-name", "rest-backend")
	dir := t.TempDir()
	writeDescriptorSet(t, filepath.Join(dir, "testservice.pb"), map[string]*annotations.HttpRule{
		"UnaryCall": {Pattern: &annotations.HttpRule_Post{Post: "/v1/unary/{response_size}"}, Body: "payload",
			AdditionalBindings: []*annotations.HttpRule{{Pattern: &annotations.HttpRule_Get{Get: "/v1/unary"}}}},
		"EmptyCall": {Pattern: &annotations.HttpRule_Get{Get: "/v1/empty"}},
	})
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  grpc: {protocol: grpc, targets: [{url: "http://%s"}]}
portal: {title: Test APIs}
policies:
  rest:
    validate: {json: {max_depth: 8}}
    response: {remove_fields: [payload.type]}
routes:
  - name: rest
    match: {paths: ["/v1/**"]}
    upstream: grpc
    policy: rest
    transcode: {descriptor_set: testservice.pb, services: [grpc.testing.TestService]}
`, addr))
	// a path variable and a body field, the reply as proto3 JSON
	r := do(t, client, "POST", g.url("/v1/unary/4"), strings.NewReader(`{"body": "aGVsbG8="}`), map[string]string{"Content-Type": "application/json"})
	var reply struct {
		Payload  struct{ Body []byte }
		ServerID string `json:"serverId"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &reply) != nil || reply.ServerID != "rest-backend" || len(reply.Payload.Body) != 4 ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("Server-Id") != "rest-backend" {
		t.Fatalf("POST: %d %v %s", r.status, r.header, r.body)
	}
	// query parameters, nested ones among them; the service's error
	// status as a problem
	r = get(t, g.url("/v1/unary?response_size=2&response_status.code=5&response_status.message=no%20such%20thing"))
	p := problemOf(t, r, http.StatusNotFound)
	if !strings.Contains(fmt.Sprint(p["detail"]), "NOT_FOUND") || !strings.Contains(fmt.Sprint(p["detail"]), "no such thing") {
		t.Fatalf("error status: %v", p)
	}
	r = get(t, g.url("/v1/empty"))
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("empty: %d %s", r.status, r.body)
	}
	// what makes no request message is the gateway's 400
	problemOf(t, get(t, g.url("/v1/unary?response_size=big")), http.StatusBadRequest)
	problemOf(t, do(t, client, "DELETE", g.url("/v1/empty"), nil, nil), http.StatusMethodNotAllowed)
	problemOf(t, get(t, g.url("/v1/nothing-here")), http.StatusNotFound)
	// the JSON body is held to the policy's limits before it is transcoded
	deep := strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10)
	problemOf(t, do(t, client, "POST", g.url("/v1/unary/1"), strings.NewReader(deep), map[string]string{"Content-Type": "application/json"}), http.StatusBadRequest)
	code, _, errs := g.cli("validate", "-c", g.cfg)
	if code != 0 {
		t.Fatalf("validate: %s", errs)
	}
	// the portal lists the operations, described from the descriptor set
	spec := get(t, g.url("/portal/apis/rest/openapi.json"))
	var doc struct {
		Info  struct{ Title string }
		Paths map[string]map[string]struct{ OperationID string }
	}
	if spec.status != 200 || json.Unmarshal(spec.body, &doc) != nil || doc.Info.Title != "grpc.testing.TestService" ||
		doc.Paths["/v1/unary/{response_size}"]["post"].OperationID != "TestService_UnaryCall" || doc.Paths["/v1/empty"]["get"].OperationID == "" {
		t.Fatalf("portal: %d %s", spec.status, spec.body)
	}
	if page := get(t, g.url("/portal/")); !strings.Contains(string(page.body), "grpc.testing.TestService") {
		t.Fatalf("portal index: %s", page.body)
	}
}
