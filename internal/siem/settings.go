package siem

import (
	"net"
	"net/url"

	"github.com/rampart-gw/rampart/internal/config"
)

// JSONLSettings are the keys of the jsonl sink type.
type JSONLSettings struct {
	Path     string      `yaml:"path" json:"path,omitempty" doc:"stdout, stderr, or a file path."`
	MaxBytes config.Size `yaml:"max_bytes" json:"max_bytes,omitempty" doc:"A file is rotated past this size (PATH.1, PATH.2 ...). Default 0: never (rotate outside with SIGUSR1)."`
	Keep     int         `yaml:"keep" json:"keep,omitempty" doc:"Rotated files kept. Default 5."`
}

// Defaults sets what the file left unset.
func (s *JSONLSettings) Defaults() {
	if s.Keep == 0 {
		s.Keep = 5
	}
}

// Validate checks the settings.
func (s *JSONLSettings) Validate(at *config.Validation) {
	if s.Path == "" {
		at.Errorf("path", "a jsonl sink needs path: stdout, stderr or a file")
	}
	if (s.MaxBytes > 0 || s.Keep > 0) && (s.Path == "stdout" || s.Path == "stderr") {
		at.Errorf("max_bytes", "only a file rotates; %s does not", s.Path)
	}
	if s.Keep < 0 {
		at.Errorf("keep", "keep cannot be negative")
	}
}

// SyslogSettings are the keys of the syslog sink type.
type SyslogSettings struct {
	Address string          `yaml:"address" json:"address,omitempty" doc:"The receiver's host:port."`
	TLS     *SinkTLS        `yaml:"tls" json:"tls,omitempty" doc:"Send over TLS (RFC 5425)."`
	Timeout config.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"One write. Default 5s."`
}

// SinkTLS configures TLS to an event receiver.
type SinkTLS struct {
	CAFile     string `yaml:"ca_file" json:"ca_file,omitempty" doc:"CA bundle the receiver's certificate must chain to. Default: the system's."`
	ServerName string `yaml:"server_name" json:"server_name,omitempty" doc:"The name the certificate must carry. Default: the address's host."`
}

// Defaults sets what the file left unset.
func (s *SyslogSettings) Defaults() {}

// Validate checks the settings.
func (s *SyslogSettings) Validate(at *config.Validation) {
	if s.Address == "" {
		at.Errorf("address", "a syslog sink needs address: the receiver's host:port")
	} else if _, _, err := net.SplitHostPort(s.Address); err != nil {
		at.Errorf("address", "%q is not host:port", s.Address)
	}
	if s.TLS != nil && s.TLS.CAFile != "" {
		at.PEMFile("tls.ca_file", s.TLS.CAFile, config.CABundleFile)
	}
}

// HTTPSettings are the keys of the http sink type.
type HTTPSettings struct {
	URL           string          `yaml:"url" json:"url,omitempty" doc:"Where batches are POSTed."`
	Flavor        string          `yaml:"flavor" json:"flavor,omitempty" enum:"webhook|splunk_hec" doc:"webhook (default; a JSON array, Bearer token) or splunk_hec (Splunk HTTPSettings Event Collector)."`
	Token         *config.Secret  `yaml:"token" json:"token,omitempty" doc:"The Bearer or Splunk HEC token, as env:NAME or file:PATH."`
	BatchSize     int             `yaml:"batch_size" json:"batch_size,omitempty" doc:"Events per POST. Default 100."`
	FlushInterval config.Duration `yaml:"flush_interval" json:"flush_interval,omitempty" doc:"The longest a partial batch waits. Default 1s."`
	Retries       int             `yaml:"retries" json:"retries,omitempty" doc:"Further tries of a failed POST, with exponential backoff, before its events are dropped and counted. Default 3."`
	Timeout       config.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"One POST. Default 5s."`
}

// Defaults sets what the file left unset.
func (s *HTTPSettings) Defaults() {
	if s.Retries == 0 {
		s.Retries = 3
	}
}

// Validate checks the settings.
func (s *HTTPSettings) Validate(at *config.Validation) {
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		at.Errorf("url", "an http sink needs url: where batches are POSTed")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		at.Errorf("url", "%q is not an http(s) URL", s.URL)
	case u.Scheme == "http" && s.Token.IsSet() && !config.IsLoopback(u.Hostname()):
		at.Errorf("url", "the token would travel in clear to %s: use https", u.Host)
	}
	if s.BatchSize < 0 {
		at.Errorf("batch_size", "batch_size cannot be negative")
	}
	if s.Retries < 0 {
		at.Errorf("retries", "retries cannot be negative")
	}
}
