// Command grpcserver is the end-to-end tests' gRPC upstream: grpc-go
// serving the gRPC interop TestService (unary, server, client and
// bidirectional streaming), the health checking service and server
// reflection, in cleartext (h2c) or over TLS. SIGUSR1 turns its health
// to NOT_SERVING and back.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	name := flag.String("name", "grpc", "server id in replies")
	cert := flag.String("cert", "", "TLS certificate (with -key): serve over TLS")
	key := flag.String("key", "", "TLS key")
	flag.Parse()
	var opts []grpc.ServerOption
	if *cert != "" {
		crt, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{crt}, MinVersion: tls.VersionTLS12})))
	}
	s := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(s, &service{name: *name})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		serving := true
		for range sig {
			serving = !serving
			st := healthpb.HealthCheckResponse_SERVING
			if !serving {
				st = healthpb.HealthCheckResponse_NOT_SERVING
			}
			hs.SetServingStatus("", st)
			fmt.Fprintln(os.Stderr, "grpcserver health", st)
		}
	}()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "grpcserver listening on", l.Addr())
	log.Fatal(s.Serve(l))
}

// service is the interop TestService, with what the tests look at in
// its replies: the server's id, and in the header metadata the deadline
// the call arrived with and the identity the gateway passed on.
type service struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (s *service) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	return &testgrpc.Empty{}, nil
}

func (s *service) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	s.echo(ctx)
	if st := req.GetResponseStatus(); st.GetCode() != 0 {
		return nil, status.Error(codes.Code(st.GetCode()), st.GetMessage())
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &testgrpc.SimpleResponse{Payload: payload(req.GetResponseSize()), ServerId: s.name,
		Username: strings.Join(md.Get("x-rampart-consumer"), ",")}, nil
}

// echo sends, as header metadata, what of the call the tests check.
func (s *service) echo(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.Pairs("server-id", s.name)
	if d, ok := ctx.Deadline(); ok {
		out.Set("deadline-ms", strconv.FormatInt(time.Until(d).Milliseconds(), 10))
	}
	for _, k := range []string{"x-rampart-consumer", "x-api-key", "authorization"} {
		if v := md.Get(k); len(v) > 0 {
			out.Set("seen-"+k, v...)
		}
	}
	_ = grpc.SetHeader(ctx, out)
}

func payload(n int32) *testgrpc.Payload {
	return &testgrpc.Payload{Body: make([]byte, max(n, 0))}
}

func (s *service) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, stream testgrpc.TestService_StreamingOutputCallServer) error {
	s.echo(stream.Context())
	for _, p := range req.GetResponseParameters() {
		if err := pause(stream.Context(), p.GetIntervalUs()); err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: payload(p.GetSize())}); err != nil {
			return err
		}
	}
	return nil
}

func pause(ctx context.Context, us int32) error {
	select {
	case <-time.After(time.Duration(us) * time.Microsecond):
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (s *service) StreamingInputCall(stream testgrpc.TestService_StreamingInputCallServer) error {
	total := 0
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testgrpc.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(req.GetPayload().GetBody())
	}
}

func (s *service) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	s.echo(stream.Context())
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if st := req.GetResponseStatus(); st.GetCode() != 0 {
			return status.Error(codes.Code(st.GetCode()), st.GetMessage())
		}
		for _, p := range req.GetResponseParameters() {
			if err := pause(stream.Context(), p.GetIntervalUs()); err != nil {
				return err
			}
			if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: payload(p.GetSize())}); err != nil {
				return err
			}
		}
	}
}
