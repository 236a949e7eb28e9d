package main

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
)

// grpcRoutes are the gRPC scenario's routes: the interop TestService on
// the backend's gRPC listener, as a public gRPC route, and its UnaryCall
// transcoded from JSON (POST /rest/unary/{response_size}, the payload as
// the body), by the rule in the descriptor set grpcDescriptors writes.
const grpcRoutes = `  - {name: grpc, match: {paths: ["/grpc.testing.TestService/{method}"]}, upstream: grpc-backend, policy: public, grpc: {}}
  - {name: rest, match: {paths: ["/rest/**"]}, upstream: grpc-backend, policy: public, transcode: {descriptor_set: testservice.pb}}
`

// grpcDescriptors writes the descriptor set of the transcoded route:
// the interop TestService with an HTTP rule on UnaryCall.
func grpcDescriptors(dir string) error {
	fdp := protodesc.ToFileDescriptorProto(testgrpc.File_grpc_testing_test_proto)
	for _, svc := range fdp.GetService() {
		for _, m := range svc.GetMethod() {
			if m.GetName() == "UnaryCall" {
				m.Options = &descriptorpb.MethodOptions{}
				proto.SetExtension(m.Options, annotations.E_Http, &annotations.HttpRule{
					Pattern: &annotations.HttpRule_Post{Post: "/rest/unary/{response_size}"}, Body: "payload"})
			}
		}
	}
	// with its imports, as protoc --include_imports writes a set
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(testgrpc.File_grpc_testing_empty_proto),
		protodesc.ToFileDescriptorProto(testgrpc.File_grpc_testing_messages_proto), fdp}}
	b, err := proto.Marshal(set)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "testservice.pb"), b, 0o600)
}

// grpcUpstream is the gRPC scenario's upstream, under upstreams:.
func grpcUpstream(url string) string {
	return fmt.Sprintf("  grpc-backend: {protocol: grpc, targets: [{url: %q}]}\n", url)
}

// unaryRequest is a grpc.testing.SimpleRequest asking for a 64-byte
// payload and carrying one, framed as a gRPC message.
func unaryRequest() []byte {
	payload := append([]byte{0x1a, 66, 0x12, 64}, bytes.Repeat([]byte{'x'}, 64)...) // payload {body: 64 bytes}
	msg := append([]byte{0x10, 64}, payload...)                                     // response_size: 64
	frame := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

const unaryPath = "/grpc.testing.TestService/UnaryCall"

// checkUnary makes one call over h2c and checks it ends with status OK.
func checkUnary(base string) error {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &protos}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, base+unaryPath, bytes.NewReader(unaryRequest()))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	status := cmp.Or(res.Trailer.Get("Grpc-Status"), res.Header.Get("Grpc-Status"))
	if res.StatusCode != 200 || status != "0" || body.Len() < 5+64 {
		return fmt.Errorf("%s: HTTP %d, grpc-status %q (%s), %d bytes", base, res.StatusCode, status, res.Header.Get("Grpc-Message"), body.Len())
	}
	return nil
}

// h2loadGRPC runs unary calls over h2c: conns connections of streams
// concurrent streams each.
func h2loadGRPC(url, bodyFile string, d time.Duration, conns, streams int) (result, error) {
	return runH2load("-c", strconv.Itoa(conns), "-m", strconv.Itoa(streams), "-D", strconv.Itoa(int(d.Seconds())),
		"-d", bodyFile, "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "user-agent: rampart-bench/1", url)
}

// grpcTable measures gRPC unary calls through Rampart against the same
// calls made to the backend directly (h2load over h2c, 10 connections of
// 10 streams), beside the HTTP/1.1 plain proxy and its direct baseline
// (wrk), interleaved rounds.
func grpcTable(env *env, path string, rounds int, dur, warm time.Duration) {
	gw := env.rampart.plain
	for _, base := range []string{env.grpcDirect, gw} {
		if err := checkUnary(base); err != nil {
			fmt.Fprintln(os.Stderr, "grpc:", err)
			return
		}
	}
	bodyFile := writeFile(env.dir, "unary.bin", string(unaryRequest()))
	// the same call as JSON: a 64-byte payload, a 64-byte reply
	restScript := writeFile(env.dir, "rest-unary.lua", fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
		`{"body":"`+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, 64))+`"}`))
	rows := []struct{ name, url string }{
		{"direct, GET (HTTP/1.1)", env.direct.plain + path},
		{"plain proxy, GET (HTTP/1.1)", env.rampart.plain + path},
		{"direct, gRPC unary (h2c)", env.grpcDirect + unaryPath},
		{"Rampart, gRPC unary (h2c)", gw + unaryPath},
		{"Rampart, JSON transcoded to gRPC unary (HTTP/1.1 in)", gw + "/rest/unary/64"},
	}
	names := make([]string, len(rows))
	for i, rw := range rows {
		names[i] = rw.name
	}
	all := interleave("grpc", names, rounds, warm, func(i int, d time.Duration) (result, error) {
		if i < 2 {
			return wrk(rows[i].url, cmp.Or(d, dur), 50, "")
		}
		if i == 4 {
			return wrk(rows[i].url, cmp.Or(d, dur), 50, restScript)
		}
		return h2loadGRPC(rows[i].url, bodyFile, max(cmp.Or(d, dur), time.Second), 10, 10)
	})
	fmt.Printf("\ngRPC unary (64-byte messages, h2load over h2c: 10 connections x 10 streams) beside GET small over HTTP/1.1 (wrk), %d rounds of %v, medians:\n\n", rounds, dur)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tratio to its direct\tper round: median (lowest-highest)\t")
	for i, rw := range rows {
		base := names[0]
		if i >= 2 {
			base = names[2]
		}
		m := median(all[rw.name])
		perRound := "-"
		if med, lo, hi, ok := roundRatios(all[rw.name], all[base]); ok && rw.name != base {
			perRound = fmt.Sprintf("%.2f (%.2f-%.2f)", med, lo, hi)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t\n", rw.name, m.rps, ratio(m.rps, median(all[base]).rps), perRound)
	}
	tw.Flush()
	if direct := median(all[names[2]]).rps; direct > 0 {
		fmt.Printf("\ngRPC unary through Rampart: %.2f of direct (target at least 0.5); HTTP/1.1 plain proxy: %.2f of direct; transcoded JSON call: %.2f of the gRPC call direct\n",
			median(all[names[3]]).rps/direct, median(all[names[1]]).rps/median(all[names[0]]).rps, median(all[names[4]]).rps/direct)
	}
	fmt.Fprintln(os.Stderr, "done: grpc")
}
