# frozen_string_literal: true

require_relative "test_helper"

class WorkerTest < Minitest::Test
  include TestSupport

  class CrashError < StandardError; end

  def build_worker(path, **options)
    worker = Keel::Worker.new("test-worker", socket: path, max_concurrent: 2, handle_signals: false, **options)
    worker.activity("echo") { |input| input }
    worker.activity("fail") { raise Keel::ActivityError.new("no", type: "BadInput", retryable: false, details: { "d" => 1 }) }
    worker.activity("crash") { raise CrashError, "boom" }
    worker.activity("wait") do |_input, ctx|
      ctx.heartbeat({ "started" => true })
      ctx.sleep(10)
      "not cancelled"
    end
    worker.activity("progress") do |input, ctx|
      (1..input["steps"]).each { |i| ctx.publish({ "step" => i }, name: "progress") }
      ctx.publish("done")
      { "published" => input["steps"] + 1 }
    end
    worker.activity("nap") do |input|
      sleep(input["ms"] / 1000.0)
      { "napped" => input["ms"] }
    end
    worker
  end

  # Runs a worker against a scripted Keel on a Unix socket; yields (worker, server).
  def serve(**options)
    with_tmpdir do |dir|
      path = File.join(dir, "k.sock")
      server = UNIXServer.new(path)
      worker = build_worker(path, **options)
      yield worker, server, Thread.new { worker.run }
    ensure
      worker&.stop
      server&.close
    end
  end

  def test_registration_carries_contracts_from_files_and_options
    with_tmpdir do |dir|
      File.write(File.join(dir, "echo.json"), JSON.generate({ "name" => "echo", "version" => "1", "input" => { "type" => "object" },
                                                               "output" => true, "description" => "Echoes." }))
      worker = Keel::Worker.new("w", socket: "/nonexistent").load_contracts(dir)
      worker.activity("echo") { |input| input }
      worker.activity("retry", retry_policy: Keel::RetryPolicy.new(maximum_attempts: 3), start_to_close_ms: 5000) { nil }
      worker.workflow("flow") { |_input, _wf| nil }
      params = worker.registration
      assert_equal({ "name" => "echo", "description" => "Echoes.", "input" => { "type" => "object" }, "output" => true },
                   params["activities"][0])
      assert_equal({ "name" => "retry", "retryPolicy" => { "maximumAttempts" => 3 }, "timeouts" => { "startToCloseMs" => 5000 } },
                   params["activities"][1])
      assert_equal [{ "name" => "flow" }], params["workflows"]
      assert_equal "ruby", params["language"]
    end
  end

  def test_bad_names_and_duplicates_are_refused
    worker = Keel::Worker.new("w", socket: "/x")
    assert_raises(ArgumentError) { worker.activity("no spaces") { nil } }
    worker.activity("a") { nil }
    assert_raises(ArgumentError) { worker.activity("a") { nil } }
  end

  # Runs the block with KEEL_BUILD_ID set to `value` (nil: unset), restoring it afterwards.
  def with_build_id_env(value)
    saved = ENV.fetch("KEEL_BUILD_ID", nil)
    value.nil? ? ENV.delete("KEEL_BUILD_ID") : ENV["KEEL_BUILD_ID"] = value
    yield
  ensure
    saved.nil? ? ENV.delete("KEEL_BUILD_ID") : ENV["KEEL_BUILD_ID"] = saved
  end

  def test_without_a_build_id_registration_has_no_build_keys
    with_build_id_env(nil) do
      params = Keel::Worker.new("w", socket: "/x", compatible_build_ids: ["b-1"]).registration
      refute params.key?("buildId")
      refute params.key?("compatibleBuildIds"), "compatible builds are sent only with a build id"
    end
    with_build_id_env("") do
      params = Keel::Worker.new("w", socket: "/x").registration
      refute params.key?("buildId"), "an empty KEEL_BUILD_ID is no build id"
      assert_nil Keel::Worker.new("w", socket: "/x", build_id: "").build_id
    end
  end

  def test_build_id_option_and_compatible_builds_go_in_the_registration
    with_build_id_env("from-env") do
      params = Keel::Worker.new("w", socket: "/x", build_id: "build-8", compatible_build_ids: %w[build-7 build-6]).registration
      assert_equal ["build-8", %w[build-7 build-6]], params.values_at("buildId", "compatibleBuildIds")
      params = Keel::Worker.new("w", socket: "/x", build_id: "build-8").registration
      assert_equal "build-8", params["buildId"]
      refute params.key?("compatibleBuildIds"), "an empty list is not sent"
    end
  end

  def test_keel_build_id_is_the_default_build_id
    with_build_id_env("build-7") do
      worker = Keel::Worker.new("w", socket: "/x", compatible_build_ids: ["build-6"])
      assert_equal "build-7", worker.build_id
      assert_equal ["build-7", ["build-6"]], worker.registration.values_at("buildId", "compatibleBuildIds")
    end
  end

  def test_build_id_is_sent_in_worker_register
    with_build_id_env(nil) do
      serve(build_id: "build-9", compatible_build_ids: ["build-8"]) do |_worker, server|
        params = Peer.new(server.accept).handshake
        assert_equal ["build-9", ["build-8"]], params.values_at("buildId", "compatibleBuildIds")
      end
    end
  end

  def test_bad_build_ids_are_refused
    assert_raises(ArgumentError) { Keel::Worker.new("w", socket: "/x", build_id: 7) }
    assert_raises(ArgumentError) { Keel::Worker.new("w", socket: "/x", compatible_build_ids: "build-1") }
    assert_raises(ArgumentError) { Keel::Worker.new("w", socket: "/x", compatible_build_ids: [""]) }
  end

  def test_outputs_and_failures_are_answered_as_data
    serve do |_worker, server|
      peer = Peer.new(server.accept)
      assert_equal "test-worker", peer.handshake["name"]
      peer.request("k1", "activity/execute", execute_params("t-1", "echo", { "a" => [1, 2.5] }))
      assert_equal({ "output" => { "a" => [1, 2.5] } }, peer.receive["result"])
      peer.request("k2", "activity/execute", execute_params("t-2", "fail", {}))
      assert_equal({ "type" => "BadInput", "message" => "no", "retryable" => false, "details" => { "d" => 1 } }, peer.receive.dig("result", "failure"))
      peer.request("k3", "activity/execute", execute_params("t-3", "crash", {}))
      failure = peer.receive.dig("result", "failure")
      assert_equal ["WorkerTest::CrashError", "boom", true], failure.values_at("type", "message", "retryable")
      peer.request("k4", "activity/execute", execute_params("t-4", "nope", {}))
      assert_equal "ActivityNotRegistered", peer.receive.dig("result", "failure", "type")
    end
  end

  def test_a_cancel_notification_wakes_the_activity_which_answers_cancelled
    serve do |_worker, server|
      peer = Peer.new(server.accept)
      peer.handshake
      peer.request("k1", "activity/execute", execute_params("t-1", "wait", {}))
      heartbeat = peer.receive
      assert_equal({ "taskId" => "t-1", "attempt" => 1, "details" => { "started" => true } }, heartbeat["params"])
      peer.answer(heartbeat["id"], { "cancelled" => false })
      peer.send_message({ "jsonrpc" => "2.0", "method" => "activity/cancel", "params" => { "taskId" => "t-1", "attempt" => 1, "reason" => "r" } })
      answer = peer.receive(3)
      assert_equal ["k1", "Cancelled", false], [answer["id"], answer.dig("result", "failure", "type"), answer.dig("result", "failure", "retryable")]
    end
  end

  def test_a_heartbeat_answered_cancelled_raises_cancelled_in_the_activity
    serve do |_worker, server|
      peer = Peer.new(server.accept)
      peer.handshake
      peer.request("k1", "activity/execute", execute_params("t-1", "wait", {}))
      peer.answer(peer.receive["id"], { "cancelled" => true })
      assert_equal "Cancelled", peer.receive(3).dig("result", "failure", "type")
    end
  end

  def test_it_reconnects_and_registers_again_after_the_connection_drops
    serve do |_worker, server|
      first = Peer.new(server.accept)
      first.handshake
      first.close
      second = Peer.new(server.accept)
      assert_equal "test-worker", second.handshake["name"]
      second.request(1, "ping", {})
      assert_equal({}, second.receive["result"])
    end
  end

  def test_stop_drains_running_activities_before_disconnecting
    serve do |worker, server, runner|
      peer = Peer.new(server.accept)
      peer.handshake
      peer.request("k1", "activity/execute", execute_params("t-1", "nap", { "ms" => 200 }))
      sleep 0.05
      worker.stop
      assert_equal({ "napped" => 200 }, peer.receive["result"]["output"])
      assert runner.join(5), "run returns after the drain"
    end
  end

  def test_shutdown_answers_after_running_work_and_refuses_new_work
    serve do |_worker, server, runner|
      peer = Peer.new(server.accept)
      peer.handshake
      peer.request("k1", "activity/execute", execute_params("t-1", "nap", { "ms" => 200 }))
      peer.request("s1", "shutdown", {})
      peer.request("k2", "activity/execute", execute_params("t-2", "echo", {}))
      answers = [peer.receive, peer.receive, peer.receive]
      assert_equal %w[k2 k1 s1], answers.map { |a| a["id"] }
      assert_equal Keel::SHUTTING_DOWN, answers[0].dig("error", "code")
      assert runner.join(5)
    end
  end

  def test_an_activity_publishes_in_order_each_awaited_with_attempt_and_token
    serve do |_worker, server|
      peer = Peer.new(server.accept)
      peer.handshake
      peer.request("k1", "activity/execute", execute_params("t-1", "progress", { "steps" => 2 }, attempt: 2).merge("attemptToken" => "tok-1"))
      first = peer.receive
      assert_equal ["activity/publish", { "taskId" => "t-1", "attempt" => 2, "name" => "progress", "event" => { "step" => 1 }, "attemptToken" => "tok-1" }],
                   first.values_at("method", "params")
      peer.request("p", "ping", {})
      assert_equal "p", peer.receive["id"], "the next publish waits for this one's answer"
      peer.answer(first["id"], {})
      second = peer.receive
      assert_equal({ "step" => 2 }, second.dig("params", "event"))
      peer.answer(second["id"], {})
      third = peer.receive
      assert_equal ["event", "done"], third["params"].values_at("name", "event"), "the default name is event"
      peer.answer(third["id"], {})
      assert_equal({ "output" => { "published" => 3 } }, peer.receive["result"])

      peer.request("k2", "activity/execute", execute_params("t-2", "progress", { "steps" => 1 }))
      publish = peer.receive
      refute publish["params"].key?("attemptToken"), "no token unless activity/execute gave one"
      peer.send_message({ "jsonrpc" => "2.0", "id" => publish["id"],
                          "error" => { "code" => Keel::ATTEMPT_SUPERSEDED, "message" => "attempt 1 of task t-2 ended" } })
      failure = peer.receive.dig("result", "failure")
      assert_equal "Keel::Error", failure["type"], "a refused publish raises Keel::Error in the activity"
      assert_match(/attempt 1 of task t-2 ended/, failure["message"])
    end
  end

  def test_a_publish_refused_as_invalid_params_raises_keel_error_with_the_code
    ours, theirs = UNIXSocket.pair
    connection = Keel::Connection.new(ours, ours).start
    peer = Peer.new(theirs)
    ctx = Keel::ActivityContext.new(execute_params("t-9", "progress", {}), connection)
    call = Thread.new do
      Thread.current.report_on_exception = false
      ctx.publish(1)
    end
    request = peer.receive
    assert_equal({ "taskId" => "t-9", "attempt" => 1, "name" => "event", "event" => 1 }, request["params"])
    peer.send_message({ "jsonrpc" => "2.0", "id" => request["id"], "error" => { "code" => -32_602, "message" => "no stream" } })
    error = assert_raises(Keel::Error) { call.value }
    assert_equal(-32_602, error.code)
  ensure
    connection&.close
    theirs&.close
  end
end
