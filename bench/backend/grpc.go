package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// serveGRPC runs grpc-go on addr with the interop TestService's unary
// call: the gRPC scenario's upstream, measured directly and through
// Rampart.
func serveGRPC(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "backend grpc %s\n", l.Addr())
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, unary{})
	go func() { log.Fatal(s.Serve(l)) }()
}

type unary struct {
	testgrpc.UnimplementedTestServiceServer
}

func (unary) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: make([]byte, max(req.GetResponseSize(), 0))}}, nil
}
