package grpcguard

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
)

// Check holds each gRPC route to what a gRPC call can be given
// (config.Check): an upstream that speaks HTTP/2, and none of the
// settings that read or rewrite a body as JSON, XML or a cacheable
// document, which a call's binary message stream is not.
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, r := range cfg.Routes {
		if r == nil || r.GRPC == nil {
			continue
		}
		fail := func(path, format string, args ...any) {
			errs = append(errs, cfg.FieldError(path, fmt.Errorf(format, args...)))
		}
		base := fmt.Sprintf("routes[%d]", i)
		if m := r.GRPC.MaxMessageBytes; m < 0 || m > MaxMessageBytesLimit {
			fail(base+".grpc.max_message_bytes", "must be between 1 byte and 64MiB")
		}
		if d := r.GRPC.MaxTimeout; d < 0 || d > 0 && d.D() < time.Millisecond {
			fail(base+".grpc.max_timeout", "must be at least 1ms")
		}
		if u := cfg.Upstreams[r.Upstream]; u != nil && u.Protocol != "grpc" && u.Protocol != "h2" && u.Protocol != "h2c" {
			fail(base+".grpc", "route %s serves gRPC, which needs HTTP/2 to the upstream: set upstreams.%s.protocol: grpc", r.Name, r.Upstream)
		}
		if ms := r.Match.Methods; len(ms) > 0 && !slices.Equal(ms, []string{"POST"}) {
			fail(base+".match.methods", "every gRPC call is a POST: leave methods out")
		}
		if r.Cache != nil {
			fail(base+".cache", "a gRPC call's reply is a stream with trailers, not a cacheable response: remove cache")
		}
		if t := r.Transform; t != nil {
			if q := t.Request; q != nil && (q.Body != nil || q.Method != "" || q.Query != nil) {
				fail(base+".transform.request", "a gRPC call's messages are protobuf and its method and path are the call: only headers (metadata) can be transformed")
			}
			if s := t.Response; s != nil && (s.Body != nil || len(s.Status) > 0 || len(s.ReplaceErrors) > 0) {
				fail(base+".transform.response", "a gRPC reply's status is in its trailers and its messages are protobuf: only headers (metadata) can be transformed")
			}
		}
		pol := cfg.Policies[r.Policy]
		if pol == nil {
			continue
		}
		pp := "policies." + r.Policy
		if c := pol.CORS; c != nil && r.GRPC.Web {
			if !listed(c.AllowHeaders, "x-grpc-web") {
				fail(pp+".cors.allow_headers", "route %s takes gRPC-Web calls from browsers, which send x-grpc-web (and x-user-agent, grpc-timeout): add them, or every call fails its preflight", r.Name)
			}
			if !listed(c.ExposeHeaders, "grpc-status") || !listed(c.ExposeHeaders, "grpc-message") {
				fail(pp+".cors.expose_headers", "route %s takes gRPC-Web calls from browsers, whose clients read the call's status from grpc-status and grpc-message: add both", r.Name)
			}
		}
		if v := pol.Validate; v != nil {
			if v.OpenAPI != "" {
				fail(pp+".validate.openapi", "route %s serves gRPC, and an OpenAPI document describes HTTP operations, not gRPC methods: give the route a policy without openapi", r.Name)
			}
			if v.GraphQL != nil {
				fail(pp+".validate.graphql", "route %s serves gRPC, not GraphQL: give the route a policy without graphql", r.Name)
			}
			if len(v.ContentTypes) > 0 && !slices.Contains(v.ContentTypes, "application/grpc") {
				fail(pp+".validate.content_types", "route %s serves gRPC: add application/grpc, or every call is refused", r.Name)
			}
		}
		if pol.Request != nil {
			fail(pp+".request", "route %s serves gRPC, whose messages are protobuf: fields cannot be encrypted in them", r.Name)
		}
		if pol.Response != nil && len(pol.Response.Transforms) > 0 {
			fail(pp+".response", "route %s serves gRPC, whose replies are protobuf: response fields cannot be removed or masked in them", r.Name)
		}
	}
	return errs
}

// listed reports whether a CORS header list names name, or is *.
func listed(list []string, name string) bool {
	return slices.ContainsFunc(list, func(h string) bool { return h == "*" || strings.EqualFold(h, name) })
}
