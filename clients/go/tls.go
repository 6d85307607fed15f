package keel

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// Environment variables for TLS over KEEL_TCP (docs/security.md "TLS").
const (
	EnvTLS           = "KEEL_TLS"             // "1": TLS with the system trust store
	EnvTLSCA         = "KEEL_TLS_CA"          // a PEM CA file (implies TLS)
	EnvTLSCert       = "KEEL_TLS_CERT"        // a PEM client certificate
	EnvTLSKey        = "KEEL_TLS_KEY"         // its PEM key
	EnvTLSServerName = "KEEL_TLS_SERVER_NAME" // the name the server's certificate must carry
)

// TLSOptions make a TCP connection speak TLS to a `keel serve --tls-cert …` listener.
// The zero value checks the server against the system trust store.
type TLSOptions struct {
	// CAFile holds PEM CA certificates to trust for the server; empty: the system trust store.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for `keel serve --tls-client-ca`.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry; empty: the host connected to
	// (an IP address is matched against the certificate's IP entries).
	ServerName string
}

// tlsFromEnvironment reads KEEL_TLS*; nil unless KEEL_TLS=1 or KEEL_TLS_CA is set.
func tlsFromEnvironment() *TLSOptions {
	if os.Getenv(EnvTLS) != "1" && os.Getenv(EnvTLSCA) == "" {
		return nil
	}
	return &TLSOptions{
		CAFile: os.Getenv(EnvTLSCA), CertFile: os.Getenv(EnvTLSCert), KeyFile: os.Getenv(EnvTLSKey),
		ServerName: os.Getenv(EnvTLSServerName),
	}
}

// withTLS sets a TCP endpoint's TLS: o, else from the environment.
func (e Endpoint) withTLS(o *TLSOptions) Endpoint {
	if e.TCP == "" {
		return e
	}
	if o == nil {
		o = tlsFromEnvironment()
	}
	e.TLS = o
	return e
}

// config builds the client configuration for a connection to address (host:port).
func (o TLSOptions) config(address string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("keel: tcp address must be HOST:PORT: %w", err)
		}
		cfg.ServerName = host
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("keel: cannot read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("keel: TLS CA file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("keel: a TLS client certificate needs both CertFile and KeyFile")
	}
	if o.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("keel: cannot load TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
