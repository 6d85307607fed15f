# frozen_string_literal: true

require_relative "test_helper"

# Reconnecting (docs/clients.md "Reconnecting"): a real `keel serve` killed with SIGKILL and
# restarted on the same socket and database, with this library's Client and Worker connected.
class ReconnectTest < Minitest::Test
  KEEL_BIN = ENV.fetch("KEEL_BIN", File.expand_path("../../../.build/debug/keel", __dir__))
  # Generous: CI runs on 2 busy cores; the backoff cap itself is 2 s.
  BACK_WITHIN_S = 15.0
  EXIT_TIMEOUT_S = 5.0

  def setup
    skip "no keel binary at #{KEEL_BIN} (set KEEL_BIN)" unless File.executable?(KEEL_BIN)
    @dir = Dir.mktmpdir("kr", "/tmp")
    @socket = File.join(@dir, "k.sock")
    @log = File.join(@dir, "keel.log")
    start_keel
    @worker = Keel::Worker.new("reconnect-ruby", socket: @socket, handle_signals: false, drain_timeout: 2)
    @worker.activity("echo") { |input| input }
    @worker.activity("slow") do |input|
      sleep(input["ms"] / 1000.0)
      input
    end
    @worker.workflow("wf.streams") do |_input, wf|
      wf.publish("before")
      wf.publish(wf.signal("go"))
      "done"
    end
    @runner = Thread.new { @worker.run }
    @client = Keel::Client.connect(socket: @socket)
    wait_until("the worker to register") { registered? }
  end

  def teardown
    return unless @dir

    @client&.close
    @worker&.stop
    @runner&.join(EXIT_TIMEOUT_S)
    stop_keel
    FileUtils.remove_entry(@dir)
  end

  def test_the_same_client_makes_its_next_call_even_one_sent_while_keel_is_down
    @client.ping
    kill9
    call = Thread.new { @client.workers } # sent while Keel is down: waits for it with backoff
    sleep 0.5
    start_keel
    assert_kind_of Array, call.value
    @client.ping
  end

  def test_a_connected_worker_serves_again_soon_after_keel_comes_back
    kill9
    sleep 3 # the worker keeps failing: its backoff grows to the cap
    start_keel
    wait_until("the worker to re-register") { registered? }
    result = @client.call_activity("echo", { "after" => "restart" }, wait_timeout_ms: 20_000)
    assert_equal ["completed", { "after" => "restart" }], result.values_at("status", "output")
  end

  def test_a_call_in_flight_without_an_idempotency_key_raises_connection_lost
    call = Thread.new do
      @client.call_activity("slow", { "ms" => 3000 })
    rescue StandardError => e
      e
    end
    wait_until("the call to run") { @client.workers.any? { |w| w["inFlight"].to_i.positive? } }
    kill9
    error = call.value
    assert_kind_of Keel::ConnectionLost, error
    assert_kind_of Keel::ConnectionClosed, error
    assert_equal "activity/call", error.method_name
    start_keel
    @client.ping
  end

  def test_a_call_in_flight_with_an_idempotency_key_is_sent_again_and_completes
    call = Thread.new { @client.call_activity("slow", { "ms" => 1500 }, idempotency_key: "rb-k1", wait_timeout_ms: 30_000) }
    wait_until("the call to run") { @client.workers.any? { |w| w["inFlight"].to_i.positive? } }
    kill9
    sleep 0.3
    start_keel
    result = call.value
    assert_equal ["completed", { "ms" => 1500 }], result.values_at("status", "output")
  end

  # A follow whose long poll is in flight when Keel is killed polls again after the reconnect from
  # its last offset: every event once, in order.
  def test_a_follow_resumes_from_its_last_offset_after_a_restart
    @client.start_workflow("wf.streams", nil, workflow_id: "rb-stream")
    seen = Keel::TimedQueue.new
    follower = Keel::Client.connect(socket: @socket)
    following = Thread.new { follower.follow("rb-stream") { |e| seen << e["offset"] } }
    assert_equal 1, seen.pop(BACK_WITHIN_S)
    sleep 0.3 # the next long poll (afterOffset 1) is in flight
    kill9
    sleep 0.3
    start_keel
    wait_until("the worker to re-register") { registered? }
    wait_until("the run to wait for its signal") do
      described = @client.describe_workflow("rb-stream")
      described.dig("currentStep", "name") == "go" || described["status"] == "suspended"
    end
    @client.signal_workflow("rb-stream", "go", "after")
    assert_equal "completed", following.value["status"]
    offsets = [1]
    while (more = seen.pop(0.1))
      offsets << more
    end
    assert_equal [1, 2], offsets
  ensure
    follower&.close
  end

  private

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  def registered? = @client.workers.any? { |w| w["name"] == "reconnect-ruby" }

  def wait_until(what)
    deadline = monotonic + BACK_WITHIN_S
    until yield
      flunk "timed out waiting for #{what}: #{File.read(@log)[-2000..]}" if monotonic > deadline
      sleep 0.05
    end
  end

  def start_keel
    @server = Process.spawn(KEEL_BIN, "serve", "--db", File.join(@dir, "keel.db"), "--socket", @socket,
                            "--sync", "normal", %i[out err] => [@log, "a"], pgroup: true)
    wait_until("keel serve to bind #{@socket}") { accepting? } # after kill -9 the old file is still there
  end

  def accepting?
    UNIXSocket.new(@socket).close
    true
  rescue SystemCallError
    false
  end

  def kill9
    Process.kill("KILL", @server)
    Process.wait(@server)
    @server = nil
  end

  def stop_keel
    return unless @server

    Process.kill("TERM", @server)
    deadline = monotonic + EXIT_TIMEOUT_S
    until Process.wait(@server, Process::WNOHANG)
      if monotonic > deadline
        Process.kill("KILL", @server)
        Process.wait(@server)
        break
      end
      sleep 0.05
    end
  end
end

# The backoff and the repeat rule, without a Keel.
class ReconnectRulesTest < Minitest::Test
  def test_backoff_is_full_jitter_capped_and_resets
    backoff = Keel::Reconnect::Backoff.new(0.1, 1.0)
    waits = Array.new(40) { backoff.next_wait }
    assert(waits.all? { |w| w >= 0 && w <= 1.0 })
    assert_operator waits.first, :<=, 0.1
    backoff.reset
    assert_operator backoff.next_wait, :<=, 0.1
  end

  def test_only_reads_and_keyed_calls_are_repeated
    assert Keel::Reconnect.safe_to_repeat?("workflow/result", { "workflowId" => "w" })
    assert Keel::Reconnect.safe_to_repeat?("activity/call", { "idempotencyKey" => "k" })
    refute Keel::Reconnect.safe_to_repeat?("activity/call", { "name" => "a" })
    refute Keel::Reconnect.safe_to_repeat?("workflow/start", { "workflowId" => "w", "conflictPolicy" => "fail" })
    refute Keel::Reconnect.safe_to_repeat?("workflow/signal", { "workflowId" => "w" })
    assert Keel::Reconnect.safe_to_repeat?("workflow/follow", { "workflowId" => "w", "afterOffset" => 3 })
  end

  def test_a_signal_is_repeated_only_with_a_request_id
    assert Keel::Reconnect.safe_to_repeat?("workflow/signal", { "workflowId" => "w", "name" => "go", "requestId" => "r-1" })
    refute Keel::Reconnect.safe_to_repeat?("workflow/signal", { "workflowId" => "w", "name" => "go" })
    refute Keel::Reconnect.safe_to_repeat?("workflow/signal", { "workflowId" => "w", "name" => "go", "requestId" => nil })
  end

  def test_an_update_is_repeated_only_with_an_update_id
    assert Keel::Reconnect.safe_to_repeat?("workflow/update", { "workflowId" => "w", "name" => "approve", "updateId" => "u-1" })
    refute Keel::Reconnect.safe_to_repeat?("workflow/update", { "workflowId" => "w", "name" => "approve" })
    refute Keel::Reconnect.safe_to_repeat?("workflow/update", { "workflowId" => "w", "name" => "approve", "updateId" => nil })
  end

  def test_a_query_is_a_read_and_a_signal_with_start_needs_an_id_and_a_request_id
    assert Keel::Reconnect.safe_to_repeat?("workflow/query", { "workflowId" => "w", "name" => "progress" })
    assert Keel::Reconnect.safe_to_repeat?("workflow/start", { "workflowId" => "w", "signal" => { "name" => "go", "requestId" => "r-1" } })
    refute Keel::Reconnect.safe_to_repeat?("workflow/start", { "workflowId" => "w", "signal" => { "name" => "go" } })
    refute Keel::Reconnect.safe_to_repeat?("workflow/start", { "signal" => { "name" => "go", "requestId" => "r-1" } })
    refute Keel::Reconnect.safe_to_repeat?("workflow/start", { "workflowId" => "w", "conflictPolicy" => "fail",
                                                               "signal" => { "name" => "go", "requestId" => "r-1" } })
  end
end
