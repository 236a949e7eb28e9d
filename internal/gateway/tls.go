package gateway

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/rampart-gw/rampart/internal/config"
	clientfp "github.com/rampart-gw/rampart/internal/fingerprint"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/pki"
)

// tls12Suites are the TLS 1.2 suites offered: ECDHE key exchange (forward
// secrecy) with AEAD ciphers only. No CBC, no RSA key exchange. TLS 1.3
// suites are not configurable and all qualify.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// curves prefers the hybrid post-quantum key exchange.
var curves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}

// serverTLS builds the TLS config of a snapshot, reading the certificate
// files anew, so a reload (or a change to the files) picks up new ones.
func (g *Gateway) serverTLS(cfg *config.Config) (*tls.Config, error) {
	t := cfg.Server.TLS
	tc := &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     tls12Suites,
		CurvePreferences: curves,
		NextProtos:       []string{"h2", "http/1.1"},
	}
	if t.MinVersion == "1.3" {
		tc.MinVersion = tls.VersionTLS13
	}
	if g.acme != nil {
		// the managed certificates, swapped by renewals without a reload
		tc.GetCertificate = g.acme.GetCertificate
		if g.acme.ALPN() {
			tc.NextProtos = append(tc.NextProtos, "acme-tls/1") // the tls-alpn-01 challenge's
		}
	}
	for i, c := range t.Certificates {
		crt, err := g.keyPair(cfg.Path(c.CertFile), keyPath(cfg, c.KeyFile))
		if err != nil {
			return nil, cfg.ErrorAt(fmt.Sprintf("server.tls.certificates[%d].cert_file", i), err)
		}
		tc.Certificates = append(tc.Certificates, crt)
	}
	switch t.ClientAuth.Mode {
	case "request":
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if t.ClientAuth.CAFile != "" {
		pool, err := pki.CertPool(cfg.Path(t.ClientAuth.CAFile))
		if err != nil {
			return nil, cfg.ErrorAt("server.tls.client_auth.ca_file", err)
		}
		tc.ClientCAs = pool
	}
	return tc, nil
}

// listenerTLS is the config the TLS listeners start with: every handshake
// takes the current snapshot's config, so certificates, versions and
// client-auth settings follow reloads.
func (g *Gateway) listenerTLS() *tls.Config {
	current := func() (*tls.Config, error) {
		if s := g.current.Load(); s != nil && s.tls != nil {
			return s.tls, nil
		}
		return nil, fmt.Errorf("no TLS configuration")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if c, ok := hello.Conn.(*cappedConn); ok {
				c.ja4 = clientfp.JA4(hello)
			}
			return current()
		},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			tc, err := current()
			if err != nil {
				return nil, err
			}
			if tc.GetCertificate != nil {
				return tc.GetCertificate(hello)
			}
			return &tc.Certificates[0], nil
		},
	}
}

type connInfoKey struct{}

// connInfo is per-connection state, attached by the server's ConnContext.
type connInfo struct {
	counted atomic.Bool // TLS handshake counted
	conn    *cappedConn // the TLS connection's own, for its JA4; nil on cleartext
	wire    *wireConn   // HTTP/1 framing check; nil on HTTP/2 over TLS and admin
	// refused is the request head the HTTP/1.1 server refused, on the
	// request standing in for it (http1_engine: rampart).
	refused *guard.WireError
}

// ja4 returns the JA4 fingerprint of the request's TLS connection.
func ja4(r *http.Request) string {
	if ci, _ := r.Context().Value(connInfoKey{}).(*connInfo); ci != nil && ci.conn != nil {
		return ci.conn.ja4
	}
	return ""
}

// countHandshake counts a connection's TLS handshake once, on its first
// request, by version and key-exchange group.
func (g *Gateway) countHandshake(r *http.Request) {
	ci, _ := r.Context().Value(connInfoKey{}).(*connInfo)
	if ci == nil || !ci.counted.CompareAndSwap(false, true) {
		return
	}
	g.metrics.TLSHandshake(tls.VersionName(r.TLS.Version), r.TLS.CurveID.String())
}
