# frozen_string_literal: true

require "socket"

module Keel
  # Where to connect: exactly one of stdio, socket (a Unix socket path) or tcp ("host:port").
  Endpoint = Struct.new(:stdio, :socket, :tcp, :token, keyword_init: true) do
    def to_s
      return "stdio" if stdio

      socket ? "unix:#{socket}" : "tcp:#{tcp}"
    end
  end

  # Opening the byte stream to Keel: Unix socket, TCP, or stdio when Keel spawned us.
  module Transport
    ENV_TRANSPORT = "KEEL_TRANSPORT"
    ENV_SOCKET = "KEEL_SOCKET"
    ENV_TCP = "KEEL_TCP"
    ENV_TOKEN = "KEEL_TOKEN"

    module_function

    # Picks the transport. KEEL_TRANSPORT=stdio wins (set by `keel serve --worker`, which owns our
    # stdin/stdout), then the arguments, then KEEL_SOCKET, then KEEL_TCP (+ KEEL_TOKEN).
    #
    # Raises ArgumentError when no transport is configured, or both socket and tcp are given.
    def resolve(socket: nil, tcp: nil, token: nil, allow_stdio: true)
      return Endpoint.new(stdio: true) if allow_stdio && ENV[ENV_TRANSPORT].to_s.downcase == "stdio"
      raise ArgumentError, "give either socket: or tcp:, not both" if socket && tcp

      token ||= ENV.fetch(ENV_TOKEN, nil)
      return Endpoint.new(socket: socket) if socket
      return Endpoint.new(tcp: tcp, token: token) if tcp
      return Endpoint.new(socket: ENV[ENV_SOCKET]) unless ENV[ENV_SOCKET].to_s.empty?
      return Endpoint.new(tcp: ENV[ENV_TCP], token: token) unless ENV[ENV_TCP].to_s.empty?

      raise ArgumentError, "no Keel transport: pass socket: or tcp:, or set KEEL_SOCKET=PATH, " \
                           "KEEL_TCP=HOST:PORT, or run under `keel serve --worker` (KEEL_TRANSPORT=stdio)"
    end

    # Opens the stream; returns [input_io, output_io].
    #
    # For stdio, the process's real stdout becomes the wire and $stdout (and fd 1) point at stderr,
    # so stray `puts` cannot corrupt it ("Over stdio, stdout is the wire"). Raises SystemCallError
    # when the socket is unreachable.
    def open(endpoint)
      if endpoint.socket
        io = UNIXSocket.new(endpoint.socket)
        [io, io]
      elsif endpoint.tcp
        host, port = split_host_port(endpoint.tcp)
        io = TCPSocket.new(host, port)
        io.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        [io, io]
      else
        open_stdio
      end
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
