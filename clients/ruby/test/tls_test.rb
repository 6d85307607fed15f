# frozen_string_literal: true

require_relative "test_helper"

# TLS against the real `keel serve --tls-cert --tls-key --tls-client-ca` (docs/security.md "TLS"),
# with a CA and certificates made by Tests/tls/make-test-certs.sh. Skipped without the binary.
class TLSTest < Minitest::Test
  KEEL_BIN = ENV.fetch("KEEL_BIN", File.expand_path("../../../.build/debug/keel", __dir__))
  SCRIPT = File.expand_path("../../../Tests/tls/make-test-certs.sh", __dir__)
  TOKEN = "ruby-tls-token-0123456789"
  STARTUP_TIMEOUT_S = 30.0

  def setup
    skip "no keel binary at #{KEEL_BIN} (set KEEL_BIN)" unless File.executable?(KEEL_BIN)
    @dir = Dir.mktmpdir("kt", "/tmp")
    @certs = File.join(@dir, "tls")
    assert system("bash", SCRIPT, @certs), "make-test-certs.sh failed"
    token = File.join(@dir, "token")
    File.write(token, TOKEN)
    File.chmod(0o600, token)
    log = File.join(@dir, "keel.log")
    @server = Process.spawn(KEEL_BIN, "serve", "--db", File.join(@dir, "keel.db"), "--socket", File.join(@dir, "k.sock"),
                            "--tcp", "127.0.0.1:0", "--token-file", token, "--tls-cert", cert("server.pem"),
                            "--tls-key", cert("server.key"), "--tls-client-ca", cert("ca.pem"), %i[out err] => log)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + STARTUP_TIMEOUT_S
    port = nil
    until port || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      port = File.read(log)[/tcp=(\d+)/, 1]
      sleep 0.05 unless port
    end
    assert port, "keel did not start: #{File.read(log)}"
    @address = "127.0.0.1:#{port}"
  end

  def teardown
    if @server
      Process.kill("TERM", @server)
      Process.wait(@server)
    end
    FileUtils.remove_entry(@dir) if @dir
  end

  def cert(name) = File.join(@certs, name)

  def test_a_client_with_the_ca_file_and_a_client_certificate_reaches_keel_over_tls
    tls = Keel::TLS.new(ca_file: cert("ca.pem"), cert_file: cert("client.pem"), key_file: cert("client.key"))
    client = Keel::Client.connect(tcp: @address, token: TOKEN, tls: tls, reconnect_timeout: 1)
    assert_equal [], client.workers
  ensure
    client&.close
  end

  def test_a_client_that_does_not_trust_the_ca_fails_the_handshake
    error = assert_raises(OpenSSL::SSL::SSLError) do
      Keel::Client.connect(tcp: @address, token: TOKEN, tls: true, reconnect_timeout: 1)
    end
    assert_match(/certificate verify failed/, error.message)
  end
end
