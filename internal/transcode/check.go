package transcode

import (
	"fmt"
	"os"

	"github.com/rampart-gw/rampart/internal/config"
)

// MaxReplyLimit bounds max_reply_bytes.
const MaxReplyLimit = 64 << 20

// Check reads each transcoded route's descriptor set and holds the route
// to what transcoding needs (config.Check): bindings that compile, an
// upstream that speaks HTTP/2, and nothing that changes the request's
// method or path before the bindings read them.
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, r := range cfg.Routes {
		if r == nil || r.Transcode == nil {
			continue
		}
		fail := func(path, format string, args ...any) {
			errs = append(errs, cfg.FieldError(path, fmt.Errorf(format, args...)))
		}
		base := fmt.Sprintf("routes[%d]", i)
		t := r.Transcode
		if _, err := os.Stat(cfg.Path(t.DescriptorSet)); err == nil {
			if _, err := LoadFile(cfg.Path(t.DescriptorSet), t.Services); err != nil {
				fail(base+".transcode.descriptor_set", "%s: %v", t.DescriptorSet, err)
			}
		} // an unreadable file is the validator's error
		if m := t.MaxReplyBytes; m < 0 || m > MaxReplyLimit {
			fail(base+".transcode.max_reply_bytes", "must be between 1 byte and 64MiB")
		}
		if u := cfg.Upstreams[r.Upstream]; u != nil && u.Protocol != "grpc" && u.Protocol != "h2" && u.Protocol != "h2c" {
			fail(base+".transcode", "route %s makes gRPC calls, which need HTTP/2 to the upstream: set upstreams.%s.protocol: grpc", r.Name, r.Upstream)
		}
		if r.GRPC != nil {
			fail(base+".grpc", "a route serves gRPC clients (grpc) or REST clients over gRPC (transcode), not both: give each its own route")
		}
		if r.Rewrite != nil {
			fail(base+".rewrite", "the path sent upstream is the gRPC method's: remove rewrite")
		}
		if tr := r.Transform; tr != nil && tr.Request != nil && tr.Request.Method != "" {
			fail(base+".transform.request.method", "the HTTP method picks the gRPC method: a transcoded route cannot override it")
		}
	}
	return errs
}
