# frozen_string_literal: true

require "openssl"
require "resolv"
require "socket"

module Keel
  # Where to connect: exactly one of stdio, socket (a Unix socket path) or tcp ("host:port");
  # tls (a TLS) only with tcp.
  Endpoint = Struct.new(:stdio, :socket, :tcp, :token, :tls, keyword_init: true) do
    def to_s
      return "stdio" if stdio

      socket ? "unix:#{socket}" : "#{tls ? 'tls' : 'tcp'}:#{tcp}"
    end
  end

  # TLS to a `keel serve --tls-cert ...` TCP listener (docs/security.md "TLS"). Files are PEM.
  # - ca_file: CA certificates to trust for the server; nil: the system trust store
  # - cert_file, key_file: a client certificate and its key, for `keel serve --tls-client-ca`
  # - server_name: the name the server's certificate must carry (default: the host connected to)
  TLS = Struct.new(:ca_file, :cert_file, :key_file, :server_name, keyword_init: true) do
    # KEEL_TLS_CA/KEEL_TLS_CERT/KEEL_TLS_KEY/KEEL_TLS_SERVER_NAME; nil unless KEEL_TLS=1 or KEEL_TLS_CA is set.
    def self.from_environment
      return nil unless ENV["KEEL_TLS"] == "1" || !ENV["KEEL_TLS_CA"].to_s.empty?

      new(ca_file: ENV.fetch("KEEL_TLS_CA", nil), cert_file: ENV.fetch("KEEL_TLS_CERT", nil),
          key_file: ENV.fetch("KEEL_TLS_KEY", nil), server_name: ENV.fetch("KEEL_TLS_SERVER_NAME", nil))
    end

    # The client context: the server's certificate and host name are checked, TLS 1.2 or later.
    # Raises ArgumentError for a certificate without a key; OpenSSL/system errors for unreadable files.
    def context
      raise ArgumentError, "a TLS client certificate needs both cert_file: and key_file:" if cert_file.nil? != key_file.nil?

      ctx = OpenSSL::SSL::SSLContext.new
      ctx.min_version = OpenSSL::SSL::TLS1_2_VERSION
      store = OpenSSL::X509::Store.new
      ca_file ? store.add_file(ca_file) : store.set_default_paths
      ctx.cert_store = store
      ctx.verify_mode = OpenSSL::SSL::VERIFY_PEER
      ctx.verify_hostname = true
      if cert_file
        ctx.cert = OpenSSL::X509::Certificate.new(File.read(cert_file))
        ctx.key = OpenSSL::PKey.read(File.read(key_file))
      end
      ctx
    end
  end

  # Opening the byte stream to Keel: Unix socket, TCP, or stdio when Keel spawned us.
  module Transport
    ENV_TRANSPORT = "KEEL_TRANSPORT"
    ENV_SOCKET = "KEEL_SOCKET"
    ENV_TCP = "KEEL_TCP"
    ENV_TOKEN = "KEEL_TOKEN"

    module_function

    # The first of `resolve_all`: where a single connection goes first.
    #
    # Raises ArgumentError when no transport is configured, or both socket and tcp are given.
    def resolve(**options)
      resolve_all(**options).first
    end

    # Picks the transport and its endpoints, in the order to try them. KEEL_TRANSPORT=stdio wins
    # (set by `keel serve --worker`, which owns our stdin/stdout), then the arguments, then
    # KEEL_SOCKET, then KEEL_TCP (+ KEEL_TOKEN). `socket:`/`tcp:` take one address (a String, used
    # as is, so a path may contain a comma) or an Array; KEEL_SOCKET/KEEL_TCP take a comma-separated
    # list (docs/clients.md "Several endpoints"), where a path containing a comma cannot be given.
    #
    # Raises ArgumentError when no transport is configured, both socket and tcp are given, or an
    # entry is empty. TCP speaks TLS with `tls: true` (system trust store),
    # `tls: Keel::TLS.new(...)`, or KEEL_TLS=1 / KEEL_TLS_CA in the environment.
    def resolve_all(socket: nil, tcp: nil, token: nil, tls: nil, allow_stdio: true)
      return [Endpoint.new(stdio: true)] if allow_stdio && ENV[ENV_TRANSPORT].to_s.downcase == "stdio"

      sockets = addresses(socket, "socket:")
      tcps = addresses(tcp, "tcp:")
      raise ArgumentError, "give either socket: or tcp:, not both" if sockets.any? && tcps.any?

      token ||= ENV.fetch(ENV_TOKEN, nil)
      tls = { true => TLS.new, false => nil, nil => TLS.from_environment }.fetch(tls, tls)
      if sockets.empty? && tcps.empty?
        if !ENV[ENV_SOCKET].to_s.empty?
          sockets = split_addresses(ENV[ENV_SOCKET], ENV_SOCKET)
        elsif !ENV[ENV_TCP].to_s.empty?
          tcps = split_addresses(ENV[ENV_TCP], ENV_TCP)
        else
          raise ArgumentError, "no Keel transport: pass socket: or tcp:, or set KEEL_SOCKET=PATH[,PATH...], " \
                               "KEEL_TCP=HOST:PORT[,HOST:PORT...], or run under `keel serve --worker` (KEEL_TRANSPORT=stdio)"
        end
      end
      sockets.map { |path| Endpoint.new(socket: path) } + tcps.map { |address| Endpoint.new(tcp: address, token: token, tls: tls) }
    end

    # A comma-separated list of endpoints, spaces around entries ignored. Raises ArgumentError for
    # an empty entry (`a.sock,,b.sock`, a trailing comma).
    def split_addresses(value, source)
      entries = value.split(",", -1).map(&:strip)
      raise ArgumentError, "#{source} has an empty entry in #{value.inspect}: give endpoints separated by single commas" if entries.any?(&:empty?)

      entries
    end

    def addresses(value, source)
      entries = Array(value)
      raise ArgumentError, "#{source} needs non-empty addresses, got #{value.inspect}" unless entries.all? { |e| e.is_a?(String) && !e.empty? }

      entries
    end

    # Opens the stream; returns [input_io, output_io].
    #
    # For stdio, the process's real stdout becomes the wire and $stdout (and fd 1) point at stderr,
    # so stray `puts` cannot corrupt it ("Over stdio, stdout is the wire"). Raises SystemCallError
    # when the socket is unreachable, OpenSSL::SSL::SSLError when the TLS handshake fails (e.g. a
    # server certificate that is not trusted).
    def open(endpoint)
      if endpoint.socket
        io = UNIXSocket.new(endpoint.socket)
        [io, io]
      elsif endpoint.tcp
        host, port = split_host_port(endpoint.tcp)
        io = TCPSocket.new(host, port)
        io.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        io = start_tls(io, endpoint.tls, host) if endpoint.tls
        [io, io]
      else
        open_stdio
      end
    end

    # Wraps a connected TCP socket in TLS and completes the handshake (closing it on failure).
    def start_tls(tcp, tls, host)
      ssl = OpenSSL::SSL::SSLSocket.new(tcp, tls.context)
      ssl.sync_close = true
      ssl.hostname = tls.server_name || host unless (tls.server_name || host) =~ Resolv::AddressRegex
      ssl.connect
      ssl.post_connection_check(tls.server_name || host)
      ssl.sync = true
      ssl
    rescue StandardError
      tcp.close
      raise
    end

    def split_host_port(address)
      host, sep, port = address.rpartition(":")
      raise ArgumentError, "tcp address must be HOST:PORT, got #{address.inspect}" if sep.empty? || port !~ /\A\d+\z/

      host = host.delete_prefix("[").delete_suffix("]")
      [host.empty? ? "127.0.0.1" : host, Integer(port, 10)]
    end

    @stdio_claimed = false

    def open_stdio
      raise IOError, "stdio transport can be opened only once per process" if @stdio_claimed

      @stdio_claimed = true
      $stdout.flush
      wire = STDOUT.dup # a new fd on the real stdout
      STDOUT.reopen(STDERR)
      $stdout = STDOUT
      wire.binmode
      wire.sync = true
      STDIN.binmode
      [STDIN, wire]
    end
  end
end
