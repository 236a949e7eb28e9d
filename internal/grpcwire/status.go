package grpcwire

import (
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Status is a gRPC status the gateway answers a call with.
type Status struct {
	Code    Code
	Message string
	// Reason, Domain and Metadata make a google.rpc.ErrorInfo detail
	// (when Reason is set): what a client program reads to tell one
	// refusal from another.
	Reason   string
	Domain   string
	Metadata map[string]string
	// RetryAfter makes a google.rpc.RetryInfo detail when positive.
	RetryAfter time.Duration
	// ProblemType is the gateway's problem type URI for the status
	// (docs/problems.md), sent as Rampart-Problem-Type for debugging.
	ProblemType string
}

// The trailer fields of a gRPC status.
const (
	HeaderStatus  = "Grpc-Status"
	HeaderMessage = "Grpc-Message"
	HeaderDetails = "Grpc-Status-Details-Bin"
	HeaderProblem = "Rampart-Problem-Type"
)

// WriteTrailersOnly answers a call that nothing has been written for
// with s alone: HTTP status 200 and the status fields in the response
// headers (the protocol's Trailers-Only response), which every gRPC
// library reads as the call's end.
func WriteTrailersOnly(w http.ResponseWriter, k Kind, s *Status) {
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Type", "Etag", "Last-Modified", "Trailer"} {
		delete(h, k)
	}
	h["Content-Type"] = []string{k.ResponseContentType()}
	s.set(h, "")
	w.WriteHeader(http.StatusOK)
}

// SetTrailers ends a call whose response has begun with s, as trailers
// (fields named with http.TrailerPrefix, which net/http sends after the
// body whether or not they were announced).
func SetTrailers(h http.Header, s *Status) { s.set(h, http.TrailerPrefix) }

func (s *Status) set(h http.Header, prefix string) {
	h[prefix+HeaderStatus] = []string{strconv.Itoa(int(s.Code))}
	if s.Message != "" {
		h[prefix+HeaderMessage] = []string{EncodeMessage(s.Message)}
	}
	if s.Reason != "" || s.RetryAfter > 0 {
		h[prefix+HeaderDetails] = []string{base64.RawStdEncoding.EncodeToString(s.Proto())}
	}
	if s.ProblemType != "" {
		h[prefix+HeaderProblem] = []string{s.ProblemType}
	}
}

// Proto is s as a google.rpc.Status message, its details an ErrorInfo
// and a RetryInfo where s has them.
func (s *Status) Proto() []byte {
	var b []byte
	if s.Code != OK {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s.Code))
	}
	if s.Message != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, s.Message)
	}
	if s.Reason != "" {
		var info []byte
		info = protowire.AppendTag(info, 1, protowire.BytesType)
		info = protowire.AppendString(info, s.Reason)
		if s.Domain != "" {
			info = protowire.AppendTag(info, 2, protowire.BytesType)
			info = protowire.AppendString(info, s.Domain)
		}
		for _, k := range slices.Sorted(maps.Keys(s.Metadata)) {
			var entry []byte
			entry = protowire.AppendTag(entry, 1, protowire.BytesType)
			entry = protowire.AppendString(entry, k)
			entry = protowire.AppendTag(entry, 2, protowire.BytesType)
			entry = protowire.AppendString(entry, s.Metadata[k])
			info = protowire.AppendTag(info, 3, protowire.BytesType)
			info = protowire.AppendBytes(info, entry)
		}
		b = appendAny(b, "google.rpc.ErrorInfo", info)
	}
	if s.RetryAfter > 0 {
		var dur []byte
		if sec := int64(s.RetryAfter / time.Second); sec != 0 {
			dur = protowire.AppendTag(dur, 1, protowire.VarintType)
			dur = protowire.AppendVarint(dur, uint64(sec))
		}
		if ns := int64(s.RetryAfter % time.Second); ns != 0 {
			dur = protowire.AppendTag(dur, 2, protowire.VarintType)
			dur = protowire.AppendVarint(dur, uint64(ns))
		}
		var retry []byte
		retry = protowire.AppendTag(retry, 1, protowire.BytesType)
		retry = protowire.AppendBytes(retry, dur)
		b = appendAny(b, "google.rpc.RetryInfo", retry)
	}
	return b
}

// appendAny appends a details entry: a google.protobuf.Any of the
// message msg of type name.
func appendAny(b []byte, name string, msg []byte) []byte {
	var a []byte
	a = protowire.AppendTag(a, 1, protowire.BytesType)
	a = protowire.AppendString(a, "type.googleapis.com/"+name)
	a = protowire.AppendTag(a, 2, protowire.BytesType)
	a = protowire.AppendBytes(a, msg)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, a)
}
