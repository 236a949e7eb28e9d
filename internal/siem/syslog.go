package siem

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
)

// Syslog sends events as RFC 5424 messages over TCP (RFC 6587
// octet-counting framing) or TLS (RFC 5425), facility log audit (13).
// A lost connection is dialled again on the next event; while the
// receiver stays down, dialling is tried at most once a second and events
// in between fail (the bus counts them).
type Syslog struct {
	name, addr string
	tls        *tls.Config // nil: plain TCP
	enc        Encoder
	timeout    time.Duration
	host       string
	conn       net.Conn
	downUntil  time.Time
	buf        []byte
	dropped    func()
}

// NewSyslog returns a sink sending to addr (host:port); tlsConf, if not
// nil, wraps the connection in TLS. dropped (may be nil) counts each event
// that could not be sent.
func NewSyslog(name, addr string, tlsConf *tls.Config, enc Encoder, timeout time.Duration, dropped func()) *Syslog {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if dropped == nil {
		dropped = func() {}
	}
	return &Syslog{name: name, addr: addr, tls: tlsConf, enc: enc, timeout: timeout, host: host, dropped: dropped}
}

// Name implements observe.Sink.
func (s *Syslog) Name() string { return s.name }

// syslogSeverity maps the event's severity (1-4) to syslog's (RFC 5424:
// 6 informational, 5 notice, 4 warning, 3 error).
func syslogSeverity(sev int) int {
	switch sev {
	case 1:
		return 6
	case 2:
		return 5
	case 3:
		return 4
	}
	return 3
}

const facilityLogAudit = 13

var errDown = errors.New("syslog receiver unreachable; retrying in a second")

// Write implements observe.Sink.
func (s *Syslog) Write(e *observe.Event) error {
	err := s.write(e)
	if err != nil {
		s.dropped()
	}
	return err
}

func (s *Syslog) write(e *observe.Event) error {
	msg, err := s.enc(e)
	if err != nil {
		return err
	}
	// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
	line := fmt.Appendf(s.buf[:0], "<%d>1 %s %s rampart %d %s - ", facilityLogAudit*8+syslogSeverity(Severity(e)),
		e.Time.UTC().Format(time.RFC3339Nano), s.host, os.Getpid(), msgID(e.Type))
	line = append(line, msg...)
	frame := strconv.AppendInt(make([]byte, 0, len(line)+8), int64(len(line)), 10)
	frame = append(append(frame, ' '), line...)
	s.buf = line[:0]
	for try := 0; try < 2; try++ {
		if err = s.dial(); err != nil {
			return err
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		if _, err = s.conn.Write(frame); err == nil {
			return nil
		}
		_ = s.conn.Close() // broken: dial again once
		s.conn = nil
	}
	return err
}

// msgID is a syslog MSGID: printable US-ASCII, at most 32 characters.
func msgID(t string) string {
	if t == "" {
		return "-"
	}
	return t[:min(len(t), 32)]
}

func (s *Syslog) dial() error {
	if s.conn != nil {
		return nil
	}
	if time.Now().Before(s.downUntil) {
		return errDown
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var c net.Conn
	var err error
	if s.tls != nil {
		c, err = (&tls.Dialer{Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		s.downUntil = time.Now().Add(time.Second)
		return fmt.Errorf("syslog %s: %w", s.addr, err)
	}
	s.conn = c
	return nil
}

// Close implements observe.Sink.
func (s *Syslog) Close() error {
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}
