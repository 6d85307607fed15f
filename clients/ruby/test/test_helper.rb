# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "json"
require "socket"
require "tmpdir"
require "keel"

Keel.logger = Logger.new($stderr, level: ENV.fetch("KEEL_LOG_LEVEL", "fatal"))

# The far end of a real socket, played by the test as Keel would: sends and receives JSON lines.
class Peer
  # Bound on every wait for the client's next line.
  TIMEOUT_S = 5.0

  attr_reader :io

  def initialize(io)
    @io = io
    @buffer = +""
  end

  def send_line(text) = @io.write("#{text}\n")

  def send_message(message) = send_line(JSON.generate(message))

  # The next line as parsed JSON; fails the test after TIMEOUT_S.
  def receive(timeout = TIMEOUT_S)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until (newline = @buffer.index("\n"))
      left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      raise Minitest::Assertion, "no line from the client within #{timeout}s" if left <= 0 || !@io.wait_readable(left)

      chunk = @io.read_nonblock(65_536, exception: false)
      raise Minitest::Assertion, "the client closed the connection" if chunk.nil?

      @buffer << chunk unless chunk == :wait_readable
    end
    JSON.parse(@buffer.slice!(0..newline))
  end

  # Answers the client's initialize and worker/register; returns the register params.
  def handshake
    init = receive
    send_message({ "jsonrpc" => "2.0", "id" => init["id"], "result" => { "protocolVersion" => "1",
                                                                         "capabilities" => { "maxMessageBytes" => 16_777_216 } } })
    register = receive
    send_message({ "jsonrpc" => "2.0", "id" => register["id"], "result" => { "workerId" => "w-1" } })
    register["params"]
  end

  def request(id, method, params) = send_message({ "jsonrpc" => "2.0", "id" => id, "method" => method, "params" => params })

  def answer(id, result) = send_message({ "jsonrpc" => "2.0", "id" => id, "result" => result })

  def close = @io.close
end

module TestSupport
  # A short temp dir for Unix sockets ("paths stay under about 100 bytes").
  def with_tmpdir(&block) = Dir.mktmpdir("kr", "/tmp", &block)

  def execute_params(task_id, name, input, attempt: 1)
    { "taskId" => task_id, "name" => name, "input" => input, "attempt" => attempt, "idempotencyKey" => task_id,
      "deadlineMs" => 4_102_444_800_000, "heartbeatTimeoutMs" => nil, "heartbeatDetails" => nil, "workflowId" => nil }
  end
end

# A Keel::Client on one end of a real socket pair (`@client`) and a Peer playing Keel on the other
# (`@peer`), for tests of what the client puts on the wire.
module PairedClient
  def setup
    ours, theirs = UNIXSocket.pair
    @client = Keel::Client.new(Keel::Connection.new(ours, ours).start)
    @peer = Peer.new(theirs)
  end

  def teardown
    @client.close
    @peer.close
  end
end
