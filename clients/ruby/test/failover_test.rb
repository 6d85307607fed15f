# frozen_string_literal: true

require_relative "test_helper"

# Several endpoints (docs/clients.md "Several endpoints"): two independent `keel serve` processes
# A and B, a worker and a client given both; A is killed with SIGKILL.
class FailoverTest < Minitest::Test
  KEEL_BIN = ENV.fetch("KEEL_BIN", File.expand_path("../../../.build/debug/keel", __dir__))
  # Generous: CI runs on 2 busy cores.
  WITHIN_S = 30.0
  EXIT_TIMEOUT_S = 5.0

  # One `keel serve` on its own directory, database and socket; restartable after kill9.
  class Node
    attr_reader :dir, :socket, :log

    def initialize(test)
      @test = test
      @dir = Dir.mktmpdir("kf", "/tmp")
      @socket = File.join(@dir, "k.sock")
      @log = File.join(@dir, "keel.log")
    end

    def start
      @pid = Process.spawn(KEEL_BIN, "serve", "--db", File.join(@dir, "keel.db"), "--socket", @socket,
                           "--sync", "normal", %i[out err] => [@log, "a"], pgroup: true)
      @test.wait_until("keel serve to bind #{@socket}") { accepting? } # after kill -9 the old file is still there
      self
    end

    def accepting?
      UNIXSocket.new(@socket).close
      true
    rescue SystemCallError
      false
    end

    def kill9
      Process.kill("KILL", @pid)
      Process.wait(@pid)
      @pid = nil
    end

    def stop
      if @pid
        Process.kill("TERM", @pid)
        deadline = @test.monotonic + EXIT_TIMEOUT_S
        until Process.wait(@pid, Process::WNOHANG)
          if @test.monotonic > deadline
            Process.kill("KILL", @pid)
            Process.wait(@pid)
            break
          end
          sleep 0.05
        end
      end
      FileUtils.remove_entry(@dir)
    end
  end

  def setup
    skip "no keel binary at #{KEEL_BIN} (set KEEL_BIN)" unless File.executable?(KEEL_BIN)
    @a = Node.new(self).start
    @b = Node.new(self).start
  end

  def teardown
    @worker&.stop
    @runner&.join(EXIT_TIMEOUT_S)
    @a&.stop
    @b&.stop
  end

  def test_a_worker_serves_the_first_endpoint_then_fails_over_and_registers_on_the_next
    start_worker("worker-1")
    wait_until("the worker to register on A") { registered_on?(@a) }
    refute registered_on?(@b), "the worker should use the first endpoint only"
    assert_equal "worker-1", whoami(@a)
    @a.kill9
    wait_until("the worker to register on B") { registered_on?(@b) }
    assert_equal "worker-1", whoami(@b)
  end

  def test_a_worker_keeps_retrying_while_every_endpoint_is_down_and_serves_when_one_is_back
    start_worker("worker-2")
    wait_until("the worker to register on A") { registered_on?(@a) }
    @a.kill9
    @b.kill9
    sleep 1 # a few rounds of refused connects
    @b.start
    wait_until("the worker to register on B") { registered_on?(@b) }
    assert_equal "worker-2", whoami(@b)
  end

  def test_a_client_fails_over_for_its_next_call_and_names_each_endpoint_when_all_are_down
    client = Keel::Client.connect(socket: [@a.socket, @b.socket], reconnect_timeout: 5)
    client.ping
    @a.kill9
    assert_kind_of Array, client.workers # sent after A died: reaches B
    @b.kill9
    error = assert_raises(Errno::ECONNREFUSED) { Keel::Client.connect(socket: [@a.socket, @b.socket]) }
    assert_includes error.message, "no Keel endpoint is reachable"
    assert_includes error.message, @a.socket
    assert_includes error.message, @b.socket
  ensure
    client&.close
  end

  def test_keel_socket_and_keel_tcp_take_comma_separated_lists
    with_env("KEEL_TRANSPORT" => nil, "KEEL_SOCKET" => "/a.sock, /b.sock") do
      assert_equal ["/a.sock", "/b.sock"], Keel::Transport.resolve_all.map(&:socket)
    end
    with_env("KEEL_TRANSPORT" => nil, "KEEL_SOCKET" => nil, "KEEL_TCP" => "h1:7000,h2:7001", "KEEL_TOKEN" => "t") do
      assert_equal [["h1:7000", "t"], ["h2:7001", "t"]], Keel::Transport.resolve_all.map { |e| [e.tcp, e.token] }
    end
    with_env("KEEL_TRANSPORT" => nil, "KEEL_SOCKET" => "/a.sock,,/b.sock") do
      assert_raises(ArgumentError) { Keel::Transport.resolve_all }
    end
    assert_equal ["/a,b.sock"], Keel::Transport.resolve_all(socket: "/a,b.sock", allow_stdio: false).map(&:socket)
  end

  def test_the_ring_moves_on_at_once_and_pauses_only_after_a_whole_round
    ring = Keel::Reconnect::EndpointRing.new(%w[a b])
    refute ring.failed
    assert_equal "b", ring.current
    assert ring.failed
    assert_equal "a", ring.current
    assert Keel::Reconnect::EndpointRing.new(%w[only]).failed
  end

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  def wait_until(what)
    deadline = monotonic + WITHIN_S
    until yield
      flunk "timed out waiting for #{what}" if monotonic > deadline
      sleep 0.1
    end
  end

  private

  def start_worker(id)
    @worker = Keel::Worker.new("failover-ruby", socket: [@a.socket, @b.socket], handle_signals: false, drain_timeout: 2)
    @worker.activity("whoami") { |_input| { "worker" => id } }
    @runner = Thread.new { @worker.run }
  end

  def with_client(node)
    client = Keel::Client.connect(socket: node.socket)
    yield client
  ensure
    client&.close
  end

  def registered_on?(node) = with_client(node) { |c| c.workers.any? { |w| w["name"] == "failover-ruby" } }

  def whoami(node)
    with_client(node) do |c|
      result = c.call_activity("whoami", {}, wait_timeout_ms: (WITHIN_S * 1000).to_i)
      assert_equal "completed", result["status"], result.inspect
      result["output"]["worker"]
    end
  end

  def with_env(values)
    saved = values.keys.to_h { |k| [k, ENV.fetch(k, nil)] }
    values.each { |k, v| ENV[k] = v }
    yield
  ensure
    saved.each { |k, v| ENV[k] = v }
  end
end
