package keel

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

const tlsTestToken = "go-tls-token-0123456789"

// startTLSKeel runs `keel serve` with TLS and client certificates on 127.0.0.1 (a CA and
// certificates made by Tests/tls/make-test-certs.sh) and returns its address and the certificates' directory.
func startTLSKeel(t *testing.T) (string, string) {
	t.Helper()
	bin := keelBinary(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "tls")
	if out, err := exec.Command("bash", "../../Tests/tls/make-test-certs.sh", certs).CombinedOutput(); err != nil {
		t.Fatalf("make-test-certs.sh: %v: %s", err, out)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(tlsTestToken), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "keel.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "serve", "--db", filepath.Join(dir, "keel.db"), "--socket", filepath.Join(dir, "k.sock"),
		"--tcp", "127.0.0.1:0", "--token-file", token, "--tls-cert", filepath.Join(certs, "server.pem"),
		"--tls-key", filepath.Join(certs, "server.key"), "--tls-client-ca", filepath.Join(certs, "ca.pem"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	port := regexp.MustCompile(`tcp=(\d+)`)
	for deadline := time.Now().Add(3 * testTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		text, _ := os.ReadFile(logPath)
		if m := port.FindSubmatch(text); m != nil {
			return "127.0.0.1:" + string(m[1]), certs
		}
	}
	text, _ := os.ReadFile(logPath)
	t.Fatalf("keel serve did not start: %s", text)
	return "", ""
}

func TestLiveTLSClientWithTheCAAndAClientCertificate(t *testing.T) {
	address, certs := startTLSKeel(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	client, err := Dial(ctx, ClientOptions{TCP: address, Token: tlsTestToken, TLS: &TLSOptions{
		CAFile: filepath.Join(certs, "ca.pem"), CertFile: filepath.Join(certs, "client.pem"), KeyFile: filepath.Join(certs, "client.key"),
	}})
	if err != nil {
		t.Fatalf("dial over TLS: %v", err)
	}
	defer client.Close()
	if _, err := client.Workers(ctx); err != nil {
		t.Fatalf("worker/list over TLS: %v", err)
	}
}

func TestLiveTLSClientThatDoesNotTrustTheCAFailsTheHandshake(t *testing.T) {
	address, _ := startTLSKeel(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := Dial(ctx, ClientOptions{TCP: address, Token: tlsTestToken, TLS: &TLSOptions{}})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("want an unknown-authority error, got %v", err)
	}
}
