package observe

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
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
	Authz          string // the authorization decision: "allow roles:orders.reader", "deny scopes:orders:write"
	Status         int
	BytesIn        int64
	BytesOut       int64
	Upstream       string
	UpstreamTarget string
	UpstreamStatus int
	UpstreamTime   time.Duration
	Attempts       int
	// UpstreamError names how the upstream failed after its status
	// line was relayed (truncated_response): the status logged is the
	// upstream's, but the client got a cut-off body.
	UpstreamError string
	// ClientRequestID is the X-Request-Id a client that is not a trusted
	// proxy sent: logged, never adopted.
	ClientRequestID string
	Problem         string // the problem type slug when Rampart answered itself
	TLSVersion      string
	TLSGroup        string
	UserAgent       string
}

// AccessLog writes one JSON object per request, in the shape of a
// log/slog JSON line ({"time":...,"msg":"request",...}). It has its own
// encoder rather than going through slog: on the request path slog's
// attribute machinery cost 7.7% of the gateway's CPU in a profile.
type AccessLog struct {
	w       *LineWriter
	headers []string
	red     *Redactor
	bufs    sync.Pool
}

// NewAccessLog writes to w. headers lists extra request headers to log;
// sensitive ones are always redacted, and red (may be nil) masks what
// its detectors find in the path, query, user agent, consumer and
// headers.
func NewAccessLog(w *LineWriter, headers []string, red *Redactor) *AccessLog {
	a := &AccessLog{w: w, headers: headers, red: red}
	a.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return a
}

// Log writes rec. h is the inbound request's header, for configured extra
// headers.
func (a *AccessLog) Log(rec *AccessRecord, h http.Header) {
	if a == nil {
		return
	}
	bp := a.bufs.Get().(*[]byte)
	if a.red != nil {
		r := *rec
		r.Path, r.Query, r.UserAgent, r.Consumer = a.red.Text(r.Path), a.red.Query(r.Query), a.red.Text(r.UserAgent), a.red.Text(r.Consumer)
		r.ClientRequestID = a.red.Text(r.ClientRequestID)
		rec = &r
	}
	b := AppendAccessJSON((*bp)[:0], rec, time.Now())
	for _, name := range a.headers {
		if v := h.Get(name); v != "" {
			b = appendStr(b, "h_"+name, a.red.Header(name, v))
		}
	}
	b = append(b, '}', '\n')
	_, _ = a.w.Write(b)
	*bp = b
	a.bufs.Put(bp)
}

// AppendAccessJSON appends rec as a JSON object without its closing brace.
func AppendAccessJSON(b []byte, rec *AccessRecord, now time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","msg":"request"`...)
	b = appendStr(b, "request_id", rec.RequestID)
	b = appendStr(b, "client_ip", rec.ClientIP)
	b = appendStr(b, "method", rec.Method)
	b = appendStr(b, "host", rec.Host)
	b = appendStr(b, "path", rec.Path)
	if rec.Query != "" {
		b = appendStr(b, "query", RedactQuery(rec.Query))
	}
	b = appendStr(b, "proto", rec.Proto)
	b = appendInt(b, "status", int64(rec.Status))
	b = appendInt(b, "bytes_in", rec.BytesIn)
	b = appendInt(b, "bytes_out", rec.BytesOut)
	b = appendMS(b, "duration_ms", now.Sub(rec.Start))
	if rec.TraceID != "" {
		b = appendStr(b, "trace_id", rec.TraceID)
	}
	if rec.Route != "" {
		b = appendStr(b, "route", rec.Route)
	}
	if rec.Consumer != "" {
		b = appendStr(b, "consumer", rec.Consumer)
	}
	if rec.Authz != "" {
		b = appendStr(b, "authz", rec.Authz)
	}
	if rec.Upstream != "" {
		b = appendStr(b, "upstream", rec.Upstream)
		b = appendStr(b, "upstream_target", rec.UpstreamTarget)
		b = appendInt(b, "upstream_status", int64(rec.UpstreamStatus))
		b = appendMS(b, "upstream_ms", rec.UpstreamTime)
		b = appendInt(b, "attempts", int64(rec.Attempts))
		if rec.UpstreamError != "" {
			b = appendStr(b, "upstream_error", rec.UpstreamError)
		}
	}
	if rec.ClientRequestID != "" {
		b = appendStr(b, "client_request_id", rec.ClientRequestID)
	}
	if rec.Problem != "" {
		b = appendStr(b, "problem", rec.Problem)
	}
	if rec.TLSVersion != "" {
		b = appendStr(b, "tls_version", rec.TLSVersion)
		b = appendStr(b, "tls_group", rec.TLSGroup)
	}
	if rec.UserAgent != "" {
		b = appendStr(b, "user_agent", rec.UserAgent)
	}
	return b
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendStr(b []byte, k, v string) []byte {
	return AppendJSONString(appendKey(b, k), v)
}

func appendInt(b []byte, k string, v int64) []byte {
	return strconv.AppendInt(appendKey(b, k), v, 10)
}

func appendMS(b []byte, k string, d time.Duration) []byte {
	return strconv.AppendFloat(appendKey(b, k), float64(d.Microseconds())/1000, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and <, >,
// & escaped so a log line is safe to embed in HTML.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
