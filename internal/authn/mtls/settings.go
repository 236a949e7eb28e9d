package mtls

import "github.com/rampart-gw/rampart/internal/config"

// Settings are the keys of the mtls type.
type Settings struct {
	ConsumerFrom string `yaml:"consumer_from" json:"consumer_from,omitempty" enum:"subject_cn|san_uri|san_dns|fingerprint" doc:"Which part of the verified client certificate names the consumer. Default subject_cn."`
	CRLFile      string `yaml:"crl_file" json:"crl_file,omitempty" doc:"A PEM or DER CRL; certificates it lists are refused. Reloaded with the config."`
}

// Defaults sets what the file left unset.
func (s *Settings) Defaults() {
	if s.ConsumerFrom == "" {
		s.ConsumerFrom = "subject_cn"
	}
}

// Validate checks the settings, and that the TLS listener asks for
// client certificates.
func (s *Settings) Validate(at *config.Validation) {
	if t := at.Config().Server.TLS; t == nil || t.ClientAuth.Mode == "" || t.ClientAuth.Mode == "none" {
		at.Errorf("", "an mtls authenticator needs server.tls.client_auth with mode request or require and a ca_file")
	}
	at.PEMFile("crl_file", s.CRLFile, config.CRLFile)
}
