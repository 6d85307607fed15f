package keel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
)

// Environment variables that choose the transport. `keel serve --worker` sets KEEL_TRANSPORT=stdio.
const (
	EnvTransport = "KEEL_TRANSPORT"
	EnvSocket    = "KEEL_SOCKET"
	EnvTCP       = "KEEL_TCP"
	EnvToken     = "KEEL_TOKEN"
)

// Endpoint says where Keel is: exactly one of Stdio, Socket or TCP is set.
type Endpoint struct {
	Stdio  bool
	Socket string // Unix socket path
	TCP    string // host:port
	Token  string // sent in initialize over TCP
	// TLS, when set, makes the TCP connection speak TLS (docs/security.md "TLS").
	TLS *TLSOptions
}

// String names the endpoint for logs: stdio, unix:PATH, tcp:HOST:PORT or tls:HOST:PORT.
func (e Endpoint) String() string {
	switch {
	case e.Stdio:
		return "stdio"
	case e.Socket != "":
		return "unix:" + e.Socket
	case e.TLS != nil:
		return "tls:" + e.TCP
	default:
		return "tcp:" + e.TCP
	}
}

// ResolveEndpoint picks the transport: KEEL_TRANSPORT=stdio wins when allowStdio (Keel spawned
// us and owns our stdin/stdout), then the socket and tcp arguments, then KEEL_SOCKET, then
// KEEL_TCP; the token is the argument or KEEL_TOKEN. With several endpoints configured
// (ResolveEndpoints) it returns the first.
func ResolveEndpoint(socket, tcp, token string, allowStdio bool) (Endpoint, error) {
	endpoints, err := ResolveEndpoints(nonEmpty(socket), nonEmpty(tcp), token, allowStdio)
	if err != nil {
		return Endpoint{}, err
	}
	return endpoints[0], nil
}

// ResolveEndpoints picks the transport and its endpoints in the order to try them
// (docs/clients.md "Several endpoints"): KEEL_TRANSPORT=stdio wins when allowStdio, then the
// sockets, then the tcp addresses, then KEEL_SOCKET, then KEEL_TCP, each of the two a
// comma-separated list (a socket path containing a comma can only be given as an argument).
// The token is the argument or KEEL_TOKEN, sent to every TCP endpoint.
func ResolveEndpoints(sockets, tcps []string, token string, allowStdio bool) ([]Endpoint, error) {
	if allowStdio && strings.EqualFold(os.Getenv(EnvTransport), "stdio") {
		return []Endpoint{{Stdio: true}}, nil
	}
	if len(sockets) > 0 && len(tcps) > 0 {
		return nil, errors.New("keel: give either a socket or a TCP address, not both")
	}
	if token == "" {
		token = os.Getenv(EnvToken)
	}
	var err error
	if len(sockets) == 0 && len(tcps) == 0 {
		switch {
		case os.Getenv(EnvSocket) != "":
			sockets, err = SplitAddresses(os.Getenv(EnvSocket), EnvSocket)
		case os.Getenv(EnvTCP) != "":
			tcps, err = SplitAddresses(os.Getenv(EnvTCP), EnvTCP)
		default:
			return nil, errors.New("keel: no transport: set a socket or TCP address, or KEEL_SOCKET=PATH[,PATH...], " +
				"KEEL_TCP=HOST:PORT[,HOST:PORT...], or run under `keel serve --worker` (KEEL_TRANSPORT=stdio)")
		}
		if err != nil {
			return nil, err
		}
	}
	var endpoints []Endpoint
	for _, path := range sockets {
		endpoints = append(endpoints, Endpoint{Socket: path})
	}
	for _, address := range tcps {
		endpoints = append(endpoints, Endpoint{TCP: address, Token: token})
	}
	for _, e := range endpoints {
		if e.Socket == "" && e.TCP == "" {
			return nil, errors.New("keel: an endpoint in the list is empty")
		}
	}
	return endpoints, nil
}

// SplitAddresses splits a comma-separated list of endpoints (spaces around entries ignored); an
// empty entry (`a.sock,,b.sock`, a trailing comma) is an error naming source.
func SplitAddresses(value, source string) ([]string, error) {
	entries := strings.Split(value, ",")
	for i, entry := range entries {
		entries[i] = strings.TrimSpace(entry)
		if entries[i] == "" {
			return nil, fmt.Errorf("keel: %s has an empty entry in %q: give endpoints separated by single commas", source, value)
		}
	}
	return entries, nil
}

// endpointList is one optional address followed by more: the options' Socket then Sockets.
func endpointList(one string, more []string) []string {
	return append(nonEmpty(one), more...)
}

func nonEmpty(address string) []string {
	if address == "" {
		return nil
	}
	return []string{address}
}

// withTLSAll sets every TCP endpoint's TLS (see withTLS).
func withTLSAll(endpoints []Endpoint, o *TLSOptions) []Endpoint {
	for i := range endpoints {
		endpoints[i] = endpoints[i].withTLS(o)
	}
	return endpoints
}

// dial opens the byte stream to Keel.
func dial(ctx context.Context, e Endpoint) (io.Reader, io.Writer, io.Closer, error) {
	if e.Stdio {
		return openStdio()
	}
	var d net.Dialer
	if e.Socket == "" && e.TLS != nil {
		cfg, err := e.TLS.config(e.TCP)
		if err != nil {
			return nil, nil, nil, err
		}
		// The handshake completes here: an untrusted certificate fails the dial, not a later read.
		c, err := (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", e.TCP)
		if err != nil {
			return nil, nil, nil, err
		}
		return c, c, c, nil
	}
	network, address := "unix", e.Socket
	if e.Socket == "" {
		network, address = "tcp", e.TCP
	}
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, c, c, nil
}

var stdioClaimed struct {
	sync.Mutex
	done bool
}

// openStdio makes the process's real stdout the wire and points fd 1 and os.Stdout at stderr,
// so stray prints cannot corrupt it ("Over stdio, stdout is the wire: a worker must write logs
// to stderr"). It can be used once per process.
func openStdio() (io.Reader, io.Writer, io.Closer, error) {
	stdioClaimed.Lock()
	defer stdioClaimed.Unlock()
	if stdioClaimed.done {
		return nil, nil, nil, errors.New("keel: the stdio transport can be opened only once per process")
	}
	stdioClaimed.done = true
	wire, err := redirectStdout()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("keel: cannot set up stdio: %w", err)
	}
	return os.Stdin, wire, wire, nil
}
