package grpcguard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
)

func TestCheck(t *testing.T) {
	const base = `version: 1
server: {listen: ["127.0.0.1:0"]}
upstreams:
  g: {protocol: %s, targets: [{url: "http://127.0.0.1:9"}]}
policies:
  p: {%s}
routes:
  - {name: r, match: {paths: ["/pkg.Svc/{method}"]%s}, upstream: g, policy: p, grpc: {%s}%s}
`
	for _, tc := range []struct {
		name, protocol, policy, match, grpc, route string
		want                                       string // "" for none
	}{
		{name: "grpc upstream", protocol: "grpc"},
		{name: "h2c upstream", protocol: "h2c"},
		{name: "settings", protocol: "grpc", grpc: "max_message_bytes: 1MiB, max_timeout: 30s"},
		{name: "http1 upstream", protocol: "http1", want: "routes[0].grpc: route r serves gRPC, which needs HTTP/2"},
		{name: "message limit", protocol: "grpc", grpc: "max_message_bytes: 128MiB", want: "routes[0].grpc.max_message_bytes"},
		{name: "timeout", protocol: "grpc", grpc: "max_timeout: 1us", want: "routes[0].grpc.max_timeout"},
		{name: "methods", protocol: "grpc", match: ", methods: [GET]", want: "routes[0].match.methods"},
		{name: "post", protocol: "grpc", match: ", methods: [POST]"},
		{name: "cache", protocol: "grpc", route: ", cache: {}", want: "routes[0].cache"},
		{name: "body transform", protocol: "grpc", route: ", transform: {request: {body: {remove: [a]}}}", want: "routes[0].transform.request"},
		{name: "status transform", protocol: "grpc", route: `, transform: {response: {status: {"200": 201}}}`, want: "routes[0].transform.response"},
		{name: "metadata transform", protocol: "grpc", route: ", transform: {request: {headers: {set: {X-Tenant: acme}}}}"},
		{name: "openapi", protocol: "grpc", policy: "validate: {openapi: spec.yaml}", want: "policies.p.validate.openapi"},
		{name: "content types", protocol: "grpc", policy: "validate: {content_types: [application/json]}", want: "policies.p.validate.content_types"},
		{name: "grpc content type", protocol: "grpc", policy: "validate: {content_types: [application/grpc]}"},
		{name: "web with cors", protocol: "grpc", grpc: "web: true",
			policy: "cors: {allow_origins: [\"https://app.example\"], allow_headers: [content-type, x-grpc-web, x-user-agent], expose_headers: [grpc-status, grpc-message]}"},
		{name: "web, cors without x-grpc-web", protocol: "grpc", grpc: "web: true",
			policy: "cors: {allow_origins: [\"https://app.example\"], expose_headers: [grpc-status, grpc-message]}", want: "policies.p.cors.allow_headers"},
		{name: "web, cors hiding the status", protocol: "grpc", grpc: "web: true",
			policy: "cors: {allow_origins: [\"https://app.example\"], allow_headers: [\"*\"]}", want: "policies.p.cors.expose_headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("c.yaml", fmt.Appendf(nil, base, tc.protocol, tc.policy, tc.match, tc.grpc, tc.route), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			errs := Check(cfg)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, errs)
			}
		})
	}
}
