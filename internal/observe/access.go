package observe

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// AccessRecord is what the access log says of one request. Stages fill it
// as the request moves; the log line is written once, at the end.
type AccessRecord struct {
	Start          time.Time
	RequestID      string
	TraceID        string
	ClientIP       string
	Method         string
	Host           string
	Path           string
	Query          string // raw; redacted when logged
	Proto          string
	Route          string
	Consumer       string
	Status         int
	BytesIn        int64
	BytesOut       int64
	Upstream       string
	UpstreamTarget string
	UpstreamStatus int
	UpstreamTime   time.Duration
	Attempts       int
	Problem        string // the problem type slug when Rampart answered itself
	TLSVersion     string
	TLSGroup       string
	UserAgent      string
}

// AccessLog writes one JSON line per request through slog.
type AccessLog struct {
	l       *slog.Logger
	headers []string
}

// NewAccessLog writes to w. headers lists extra request headers to log;
// sensitive ones are always redacted.
func NewAccessLog(w *LineWriter, headers []string) *AccessLog {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.LevelKey {
			return slog.Attr{} // every line is a request; the level says nothing
		}
		return a
	}})
	return &AccessLog{l: slog.New(h), headers: headers}
}

// Log writes rec. h is the inbound request's header, for configured extra
// headers.
func (a *AccessLog) Log(rec *AccessRecord, h http.Header) {
	if a == nil {
		return
	}
	attrs := make([]slog.Attr, 0, 26)
	attrs = append(attrs,
		slog.String("request_id", rec.RequestID),
		slog.String("client_ip", rec.ClientIP),
		slog.String("method", rec.Method),
		slog.String("host", rec.Host),
		slog.String("path", rec.Path),
		slog.String("proto", rec.Proto),
		slog.Int("status", rec.Status),
		slog.Int64("bytes_in", rec.BytesIn),
		slog.Int64("bytes_out", rec.BytesOut),
		slog.Float64("duration_ms", ms(time.Since(rec.Start))),
	)
	if rec.Query != "" {
		attrs = append(attrs, slog.String("query", RedactQuery(rec.Query)))
	}
	if rec.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", rec.TraceID))
	}
	if rec.Route != "" {
		attrs = append(attrs, slog.String("route", rec.Route))
	}
	if rec.Consumer != "" {
		attrs = append(attrs, slog.String("consumer", rec.Consumer))
	}
	if rec.Upstream != "" {
		attrs = append(attrs, slog.String("upstream", rec.Upstream), slog.String("upstream_target", rec.UpstreamTarget),
			slog.Int("upstream_status", rec.UpstreamStatus), slog.Float64("upstream_ms", ms(rec.UpstreamTime)),
			slog.Int("attempts", rec.Attempts))
	}
	if rec.Problem != "" {
		attrs = append(attrs, slog.String("problem", rec.Problem))
	}
	if rec.TLSVersion != "" {
		attrs = append(attrs, slog.String("tls_version", rec.TLSVersion), slog.String("tls_group", rec.TLSGroup))
	}
	if rec.UserAgent != "" {
		attrs = append(attrs, slog.String("user_agent", rec.UserAgent))
	}
	for _, name := range a.headers {
		if v := h.Get(name); v != "" {
			attrs = append(attrs, slog.String("h_"+name, RedactHeader(name, v)))
		}
	}
	a.l.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
