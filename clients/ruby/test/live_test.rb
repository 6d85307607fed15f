# frozen_string_literal: true

require_relative "test_helper"

# Level 5: the real `keel` binary and this client over a Unix socket. Skipped when the binary
# is missing (set KEEL_BIN to point at one).
class LiveTest < Minitest::Test
  include TestSupport

  KEEL_BIN = ENV.fetch("KEEL_BIN", File.expand_path("../../../.build/debug/keel", __dir__))
  # Bounds: the orchestrator binding its socket, a run finishing, the orchestrator exiting.
  STARTUP_TIMEOUT_S = 15.0
  RESULT_TIMEOUT_MS = 20_000
  EXIT_TIMEOUT_S = 5.0

  def setup
    skip "no keel binary at #{KEEL_BIN} (set KEEL_BIN)" unless File.executable?(KEEL_BIN)
    @dir = Dir.mktmpdir("kl", "/tmp")
    @socket = File.join(@dir, "k.sock")
    @log = File.join(@dir, "keel.log")
    @tcp = "127.0.0.1:#{free_port}"
    @server = Process.spawn(KEEL_BIN, "serve", "--db", File.join(@dir, "keel.db"), "--socket", @socket,
                            "--tcp", @tcp, "--token", "s3cret-s3cret-s3cret", %i[out err] => @log, pgroup: true)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + STARTUP_TIMEOUT_S
    sleep 0.05 until File.exist?(@socket) || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    assert File.exist?(@socket), "keel did not bind #{@socket}: #{File.read(@log)}"
    @worker = Keel::Worker.new("live-ruby", socket: @socket, handle_signals: false, drain_timeout: 2,
                               build_id: "live-build-2", compatible_build_ids: ["live-build-1"])
    @worker.activity("greet.hello", input: { "type" => "object", "required" => ["name"] }) { |input| { "greeting" => "Hello, #{input['name']}" } }
    @worker.activity("echo") { |input| input }
    @worker.workflow("wf.sequence") do |input, wf|
      r1 = wf.activity("echo", { "n" => input["n"] })
      { "n" => wf.activity("echo", { "n" => r1["n"] + 1 })["n"] }
    end
    @worker.workflow("wf.waits") do |_input, wf|
      wf.sleep(10)
      { "signal" => wf.signal("go") }
    end
    @worker.workflow("wf.cancellable") do |_input, wf|
      wf.signal("never")
    rescue Keel::Cancelled
      wf.activity("echo", { "step" => "compensate" })
      raise
    end
    @worker.workflow("wf.patched") do |_input, wf|
      patched = wf.patched?("add-discount")
      wf.activity("echo", { "step" => "discount" }) if patched
      { "patched" => patched, "again" => wf.patched?("add-discount"), "charge" => wf.activity("echo", { "step" => "charge" }) }
    end
    @worker.activity("progress") do |input, ctx|
      (1..input["steps"]).each { |i| ctx.publish({ "step" => i }, name: "progress") }
      { "published" => input["steps"] }
    end
    @worker.workflow("wf.streams") do |_input, wf|
      wf.publish({ "phase" => "start" }, name: "phase")
      wf.activity("progress", { "steps" => 3 })
      go = wf.signal("go")
      wf.publish(go)
      { "done" => true }
    end
    @worker.workflow("wf.ships") { |_input, wf| wf.upsert_search_attributes({ "stage" => "shipped" }) }
    @worker.workflow("wf.batch") do |input, wf|
      wf.child("wf.sequence", { "n" => 1 }, id: input["child"], search_attributes: { "customer" => "acme" },
                                            memo: { "source" => "batch" })
    end
    @worker.workflow("live.progress") do |_input, wf|
      wf.set_query_value("stage", "packed")
      go = wf.signal("go")
      wf.set_query_value("stage", { "shipped" => go })
      go
    end
    @worker.workflow("live.approve") do |_input, wf|
      u = wf.wait_for_update("approve")
      amount = u.input["amount"]
      if amount > 100
        wf.reject(u, "amount #{amount} is over 100", details: { "limit" => 100 })
        next { "approved" => false }
      end
      wf.respond(u, { "approved" => amount })
      { "approved" => true }
    end
    @worker.workflow("live.ignores") { |_input, wf| wf.wait_for_update("approve").id }
    @worker.workflow("wf.approvals") { |_input, wf| [wf.signal("approve"), wf.signal("approve")] }
    @spinning = Keel::TimedQueue.new
    @unwound = Keel::TimedQueue.new
    @worker.workflow("wf.spins") do |_input, wf|
      @spinning << wf.workflow_id
      loop { sleep 0.05 } # plain Ruby, no step: only workflow/cancel can stop it
    ensure
      @unwound << wf.workflow_id
    end
    @runner = Thread.new { @worker.run }
    @client = Keel::Client.connect(socket: @socket)
    wait_for_worker
  end

  def teardown
    return unless @server

    @client&.close
    @worker&.stop
    @runner&.join(EXIT_TIMEOUT_S)
    stop_server
    FileUtils.remove_entry(@dir) unless ENV["KEEL_TEST_KEEP_TMPDIR"] == "1"
    puts "kept #{@dir}" if ENV["KEEL_TEST_KEEP_TMPDIR"] == "1"
  end

  def test_an_activity_call_runs_on_this_worker
    result = @client.call_activity("greet.hello", { "name" => "Ada" }, wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "greeting" => "Hello, Ada" }], result.values_at("status", "output")
    error = assert_raises(Keel::Error) { @client.call_activity("greet.hello", { "nom" => 1 }) }
    assert_equal Keel::INPUT_CONTRACT_VIOLATION, error.code
  end

  def test_a_workflow_runs_to_completion
    started = begin
      @client.start_workflow("wf.sequence", { "n" => 1 }, workflow_id: "live-seq")
    rescue Keel::Error => e
      raise unless e.code == Keel::METHOD_NOT_FOUND

      skip "this keel binary answers -32601 for workflow/start: no workflow support yet"
    end
    assert_equal "live-seq", started["workflowId"]
    result = @client.workflow_result("live-seq", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "n" => 2 }], result.values_at("status", "output"), result.inspect
    assert_equal "completed", @client.describe_workflow("live-seq")["status"]
  end

  def test_a_workflow_waits_for_a_signal_and_can_be_cancelled
    skip_without_workflows
    @client.start_workflow("wf.waits", nil, workflow_id: "live-sig")
    assert_equal true, @client.signal_workflow("live-sig", "go", { "ok" => true })["delivered"]
    result = @client.workflow_result("live-sig", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "signal" => { "ok" => true } }], result.values_at("status", "output"), result.inspect

    @client.start_workflow("wf.cancellable", nil, workflow_id: "live-cancel")
    # Cancel once the workflow waits at its signal step: a cancel that landed before the run sent
    # its first step was seen to leave the run suspended (reported as an orchestrator race).
    wait_for("live-cancel") { |d| d["status"] == "suspended" || d.dig("currentStep", "name") == "never" }
    @client.cancel_workflow("live-cancel", reason: "test")
    result = @client.workflow_result("live-cancel", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal "cancelled", result["status"], result.inspect
    steps = @client.workflow_history("live-cancel")["entries"].map { |e| [e["kind"], e["name"], e["input"]] }
    assert_includes steps, ["activity", "echo", { "step" => "compensate" }]
  end

  # workflow/signal's requestId: a repeat with the same id is answered duplicate and not delivered;
  # signals without an explicit id get a fresh one each, so each is delivered.
  def test_a_signal_repeated_with_its_request_id_is_delivered_once
    skip_without_workflows
    @client.start_workflow("wf.approvals", nil, workflow_id: "live-dedup")
    first = @client.signal_workflow("live-dedup", "approve", "A", request_id: "approve-live-dedup-1")
    assert_equal [true, false], first.values_at("delivered", "duplicate"), first.inspect
    again = @client.signal_workflow("live-dedup", "approve", "A", request_id: "approve-live-dedup-1")
    assert_equal [true, true], again.values_at("delivered", "duplicate"), again.inspect
    fresh = @client.signal_workflow("live-dedup", "approve", "B")
    assert_equal [true, false], fresh.values_at("delivered", "duplicate"), fresh.inspect
    result = @client.workflow_result("live-dedup", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", %w[A B]], result.values_at("status", "output"), result.inspect

    # Two default signals with the same payload: both delivered.
    @client.start_workflow("wf.approvals", nil, workflow_id: "live-default")
    2.times { assert_equal false, @client.signal_workflow("live-default", "approve", "C")["duplicate"] }
    result = @client.workflow_result("live-default", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", %w[C C]], result.values_at("status", "output"), result.inspect
  end

  # workflow/cancel: a terminated run whose code never steps is unwound at once and leaves the
  # worker's in-flight count (what a drain waits for).
  def test_a_terminated_run_that_never_steps_is_stopped_at_once
    skip_without_workflows
    @client.start_workflow("wf.spins", nil, workflow_id: "live-spin")
    assert_equal "live-spin", @spinning.pop(RESULT_TIMEOUT_MS / 1000.0), "the run never started"
    terminated = @client.send(:call, "workflow/terminate", { "workflowId" => "live-spin", "reason" => "test" })
    assert_equal "terminated", terminated["status"], terminated.inspect
    assert_equal "live-spin", @unwound.pop(RESULT_TIMEOUT_MS / 1000.0), "the run's code was not unwound"
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + (RESULT_TIMEOUT_MS / 1000.0)
    until @worker.instance_variable_get(:@in_flight).zero?
      flunk "the stopped run is still in flight" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
    assert_equal [], @client.workflow_history("live-spin")["entries"], "a stopped run sends no step"
    # The worker serves the next run as before.
    @client.start_workflow("wf.sequence", { "n" => 1 }, workflow_id: "live-after")
    result = @client.workflow_result("live-after", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "n" => 2 }], result.values_at("status", "output"), result.inspect
  end

  # docs/versioning.md: a patch marker recorded by Keel, answered true, replayed without a second
  # marker; the worker's build id and compatible builds in worker/list.
  def test_a_patched_workflow_records_its_marker_on_a_versioned_worker
    skip_without_workflows
    worker = @client.workers.find { |w| w["name"] == "live-ruby" }
    assert_equal ["live-build-2", ["live-build-1"]], worker.values_at("buildId", "compatibleBuildIds"), worker.inspect
    @client.start_workflow("wf.patched", nil, workflow_id: "live-patch")
    result = @client.workflow_result("live-patch", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "patched" => true, "again" => true, "charge" => { "step" => "charge" } }],
                 result.values_at("status", "output"), result.inspect
    steps = @client.workflow_history("live-patch")["entries"].map { |e| [e["seq"], e["kind"], e["name"]] }
    assert_equal [[1, "patch", "add-discount"], [2, "activity", "echo"], [3, "activity", "echo"]], steps
  end

  # Streams (docs/protocol.md): events published by the workflow and by its activity, followed
  # live from offset 0 (each once, in order, ending with the execution) and from an offset.
  def test_follow_sees_every_published_event_once_in_order_and_ends_with_the_workflow
    skip_without_workflows
    @client.start_workflow("wf.streams", nil, workflow_id: "live-stream")
    seen = Keel::TimedQueue.new
    follower = Keel::Client.connect(socket: @socket) # its own connection: the long polls block nothing else
    following = Thread.new { follower.follow("live-stream") { |e| seen << e } }
    live = Array.new(4) { seen.pop(RESULT_TIMEOUT_MS / 1000.0) || flunk("fewer than 4 events came live") }
    wait_for("live-stream") { |d| d.dig("currentStep", "name") == "go" || d["status"] == "suspended" }
    assert following.alive?, "the follow waits while the workflow runs"
    @client.signal_workflow("live-stream", "go", { "approved" => true })
    last = following.value
    events = live
    while (more = seen.pop(0.1))
      events << more
    end
    assert_equal ["completed", true], last.values_at("status", "done"), last.inspect
    assert_equal [1, 2, 3, 4, 5], events.map { |e| e["offset"] }, events.inspect
    assert_equal %w[workflow activity activity activity workflow], events.map { |e| e["source"] }
    assert_equal %w[phase progress progress progress event], events.map { |e| e["name"] }
    assert_equal [{ "phase" => "start" }, { "step" => 1 }, { "step" => 2 }, { "step" => 3 }, { "approved" => true }],
                 events.map { |e| e["event"] }
    assert events.select { |e| e["source"] == "activity" }.all? { |e| e["taskId"].is_a?(String) && e["attempt"] == 1 }
    assert events.select { |e| e["source"] == "workflow" }.all? { |e| e["seq"].is_a?(Integer) }
    assert_equal ["completed", { "done" => true }], @client.workflow_result("live-stream", wait_timeout_ms: RESULT_TIMEOUT_MS)
                                                           .values_at("status", "output")

    # Afterwards: from 0 the whole stream again, from an offset only the later events; both end.
    assert_equal [1, 2, 3, 4, 5], @client.follow("live-stream").map { |e| e["offset"] }
    assert_equal [3, 4, 5], @client.follow("live-stream", after_offset: 2).map { |e| e["offset"] }
    assert_equal [], @client.follow("live-stream", after_offset: 5).to_a
  ensure
    follower&.close
  end

  # An activity called directly (activity/call) has no stream: its publish is refused (-32602)
  # and raises Keel::Error, which fails the attempt (retryable, like any exception: one attempt here).
  def test_a_publish_from_a_directly_called_activity_fails_it
    result = @client.call_activity("progress", { "steps" => 1 }, wait_timeout_ms: RESULT_TIMEOUT_MS,
                                                                 retry_policy: Keel::RetryPolicy.new(maximum_attempts: 1))
    assert_equal "failed", result["status"], result.inspect
    assert_equal "Keel::Error", result.dig("failure", "type"), result.inspect
    assert_match(/activity\/call/, result.dig("failure", "message"))
  end

  # docs/protocol.md "Priorities and fairness": tasks queued with no worker for them run highest
  # priority first, then round-robin over fairness keys in the order each key first arrived,
  # first in first out within a key.
  def test_queued_activities_run_by_priority_then_round_robin_over_fairness_keys
    queued = %w[a1 a2 a3 a4 a5 a6].map { |id| @client.call_activity("prio.record", { "id" => id }, wait: false, fairness_key: "a") }
    queued += %w[b1 b2].map { |id| @client.call_activity("prio.record", { "id" => id }, wait: false, fairness_key: "b") }
    queued << @client.call_activity("prio.record", { "id" => "h" }, wait: false, priority: 9)
    assert_equal ["scheduled"], queued.map { |q| q["status"] }.uniq, queued.inspect

    ran = Keel::TimedQueue.new
    worker = Keel::Worker.new("live-prio", socket: @socket, max_concurrent: 1, handle_signals: false, drain_timeout: 2)
    worker.activity("prio.record") do |input|
      ran << input["id"]
      input
    end
    runner = Thread.new { worker.run }
    order = Array.new(9) { ran.pop(RESULT_TIMEOUT_MS / 1000.0) || flunk("fewer than 9 tasks ran") }
    assert_equal %w[h a1 b1 a2 b2 a3 a4 a5 a6], order
    queued.each do |q|
      result = @client.activity_result(q["taskId"], wait_timeout_ms: RESULT_TIMEOUT_MS)
      assert_equal "completed", result["status"], result.inspect
    end
  ensure
    worker&.stop
    runner&.join(EXIT_TIMEOUT_S)
  end

  # A workflow's priority and fairness key are kept with the execution and shown by describe.
  def test_a_workflow_started_with_a_priority_and_fairness_key_describes_them
    skip_without_workflows
    @client.start_workflow("wf.sequence", { "n" => 1 }, workflow_id: "live-prio", priority: 5, fairness_key: "acme")
    described = @client.describe_workflow("live-prio")
    assert_equal [5, "acme"], described.values_at("priority", "fairnessKey"), described.inspect
    result = @client.workflow_result("live-prio", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "n" => 2 }], result.values_at("status", "output"), result.inspect

    @client.start_workflow("wf.sequence", { "n" => 1 }, workflow_id: "live-noprio")
    described = @client.describe_workflow("live-noprio")
    assert_equal 0, described["priority"], described.inspect
    assert_nil described["fairnessKey"], described.inspect
    assert_equal "completed", @client.workflow_result("live-noprio", wait_timeout_ms: RESULT_TIMEOUT_MS)["status"]
  end

  # docs/protocol.md "Search attributes and memo": attributes and memo given at start, an
  # attribute upserted by the workflow, a query over both finding exactly the matching execution.
  def test_a_query_finds_a_workflow_by_its_start_and_upserted_search_attributes
    skip_without_workflows
    { "live-acme" => "acme", "live-globex" => "globex" }.each do |id, customer|
      @client.start_workflow("wf.ships", nil, workflow_id: id, search_attributes: { "customer" => customer, "tier" => 1 },
                                              memo: { "owner" => "ops" })
      result = @client.workflow_result(id, wait_timeout_ms: RESULT_TIMEOUT_MS)
      assert_equal ["completed", { "customer" => customer, "tier" => 1, "stage" => "shipped" }],
                   result.values_at("status", "output"), result.inspect
    end
    listed = @client.list_workflows(query: 'customer = "acme" AND stage = "shipped"')["workflows"]
    assert_equal ["live-acme"], listed.map { |w| w["workflowId"] }, listed.inspect
    assert_equal({ "customer" => "acme", "tier" => 1, "stage" => "shipped" }, listed.first["searchAttributes"])
    described = @client.describe_workflow("live-acme")
    assert_equal [{ "customer" => "acme", "tier" => 1, "stage" => "shipped" }, { "owner" => "ops" }],
                 described.values_at("searchAttributes", "memo"), described.inspect
    bad = assert_raises(Keel::Error) { @client.list_workflows(query: 'customer = "acme" AND') }
    assert_equal Keel::INVALID_QUERY, bad.code
  end

  # docs/protocol.md step kind `child`: a child started with its own search attributes and memo
  # is found by a query over them and describes its memo.
  def test_a_child_started_with_search_attributes_and_memo_is_found_by_them
    skip_without_workflows
    @client.start_workflow("wf.batch", { "child" => "live-batch-line" }, workflow_id: "live-batch")
    result = @client.workflow_result("live-batch", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "n" => 2 }], result.values_at("status", "output"), result.inspect
    listed = @client.list_workflows(query: 'customer = "acme"')["workflows"]
    assert_equal ["live-batch-line"], listed.map { |w| w["workflowId"] }, listed.inspect
    described = @client.describe_workflow("live-batch-line")
    assert_equal [{ "customer" => "acme" }, { "source" => "batch" }, "live-batch"],
                 described.values_at("searchAttributes", "memo", "parentId"), described.inspect
  end

  # docs/protocol.md "Queries and signal-with-start": signal-with-start starting an execution and
  # signalling an open one; query values read back; an unknown query name is 1030.
  def test_signal_with_start_starts_or_signals_and_query_reads_the_latest_value
    skip_without_workflows
    begin
      started = @client.signal_with_start("live.progress", {}, "go", { "n" => 1 }, workflow_id: "sws-1")
    rescue Keel::Error => e
      raise unless e.code == Keel::INVALID_PARAMS || e.code == Keel::METHOD_NOT_FOUND

      skip "this keel binary has no signal-with-start: #{e.message}"
    end
    assert_equal ["sws-1", true, true], [started["workflowId"], started["started"], started.dig("signal", "delivered")], started.inspect
    result = @client.workflow_result("sws-1", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "n" => 1 }], result.values_at("status", "output"), result.inspect
    assert_equal({ "shipped" => { "n" => 1 } }, @client.query_workflow("sws-1", "stage"))

    @client.start_workflow("live.progress", {}, workflow_id: "sws-2")
    stage = nil
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + (RESULT_TIMEOUT_MS / 1000.0)
    until stage == "packed"
      flunk "query stage never became \"packed\" (last #{stage.inspect})" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.05
      stage = begin
        @client.query_workflow("sws-2", "stage")
      rescue Keel::Error => e
        raise unless e.code == Keel::QUERY_NOT_FOUND # not set yet

        nil
      end
    end
    again = @client.signal_with_start("live.progress", {}, "go", { "n" => 2 }, workflow_id: "sws-2")
    assert_equal ["sws-2", false, true], [again["workflowId"], again["started"], again.dig("signal", "delivered")], again.inspect
    result = @client.workflow_result("sws-2", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "n" => 2 }], result.values_at("status", "output"), result.inspect
    assert_equal({ "shipped" => { "n" => 2 } }, @client.query_workflow("sws-2", "stage"))

    unknown = assert_raises(Keel::Error) { @client.query_workflow("sws-2", "no-such-query") }
    assert_equal Keel::QUERY_NOT_FOUND, unknown.code, unknown.inspect
    assert_equal ["sws-2", "no-such-query", ["stage"]], unknown.data.values_at("workflowId", "name", "known"), unknown.data.inspect
  end

  # An unknown workflow id is 1001 for a query; signal-with-start on an ended execution is 1001
  # too, as workflow/signal.
  def test_a_query_of_an_unknown_workflow_and_a_signal_with_start_of_an_ended_one_are_workflow_not_found
    skip_without_workflows
    begin
      @client.query_workflow("no-such-workflow", "stage")
      flunk "a query of an unknown workflow returned"
    rescue Keel::Error => e
      skip "this keel binary has no workflow/query" if e.code == Keel::METHOD_NOT_FOUND
      assert_equal Keel::WORKFLOW_NOT_FOUND, e.code, e.inspect
    end
    @client.signal_with_start("live.progress", {}, "go", { "n" => 3 }, workflow_id: "sws-ended")
    assert_equal "completed", @client.workflow_result("sws-ended", wait_timeout_ms: RESULT_TIMEOUT_MS)["status"]
    ended = assert_raises(Keel::Error) { @client.signal_with_start("live.progress", {}, "go", { "n" => 4 }, workflow_id: "sws-ended") }
    assert_equal Keel::WORKFLOW_NOT_FOUND, ended.code, ended.inspect
  end

  # docs/protocol.md "Updates": an update answered by wf.respond completes the call with its
  # result; the same updateId again gets the same outcome without a second delivery; wf.reject
  # answers "rejected" with the failure; a workflow that ends without answering is 1031.
  def test_an_update_is_answered_once_rejected_or_left_unanswered
    skip_without_workflows
    @client.start_workflow("live.approve", nil, workflow_id: "live-upd")
    begin
      done = @client.update_workflow("live-upd", "approve", { "amount" => 5 }, update_id: "live-upd-1", wait_timeout_ms: RESULT_TIMEOUT_MS)
    rescue Keel::Error => e
      raise unless e.code == Keel::METHOD_NOT_FOUND

      skip "this keel binary answers -32601 for workflow/update: no update support yet"
    end
    assert_equal({ "workflowId" => "live-upd", "updateId" => "live-upd-1", "name" => "approve", "status" => "completed",
                   "result" => { "approved" => 5 } }, done)
    result = @client.workflow_result("live-upd", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "approved" => true }], result.values_at("status", "output"), result.inspect
    again = @client.update_workflow("live-upd", "approve", { "amount" => 5 }, update_id: "live-upd-1", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal done, again, "the same updateId gets the same outcome"
    steps = @client.workflow_history("live-upd")["entries"].map { |e| [e["seq"], e["kind"], e["name"]] }
    assert_equal [[1, "signal", "update:approve"], [2, "respond", "live-upd-1"]], steps, "delivered once"

    @client.start_workflow("live.approve", nil, workflow_id: "live-upd-big")
    rejected = @client.update_workflow("live-upd-big", "approve", { "amount" => 500 }, wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_match(/\A\h{8}-\h{4}-4\h{3}-[89ab]\h{3}-\h{12}\z/, rejected["updateId"], "a fresh UUID by default")
    assert_equal ["rejected", { "type" => "Rejected", "message" => "amount 500 is over 100", "details" => { "limit" => 100 } }],
                 rejected.values_at("status", "failure"), rejected.inspect
    refute rejected.key?("result"), rejected.inspect
    result = @client.workflow_result("live-upd-big", wait_timeout_ms: RESULT_TIMEOUT_MS)
    assert_equal ["completed", { "approved" => false }], result.values_at("status", "output"), result.inspect

    @client.start_workflow("live.ignores", nil, workflow_id: "live-upd-ignored")
    unanswered = assert_raises(Keel::Error) do
      @client.update_workflow("live-upd-ignored", "approve", nil, update_id: "live-upd-2", wait_timeout_ms: RESULT_TIMEOUT_MS)
    end
    assert_equal Keel::UPDATE_UNANSWERED, unanswered.code, unanswered.inspect
    assert_equal ["live-upd-ignored", "live-upd-2", "completed"], unanswered.data.values_at("workflowId", "updateId", "status"),
                 unanswered.data.inspect
    unknown = assert_raises(Keel::Error) { @client.update_workflow("no-such-workflow", "approve") }
    assert_equal Keel::WORKFLOW_NOT_FOUND, unknown.code, unknown.inspect
  end

  def test_tcp_needs_the_token_and_then_serves
    refused = Keel::Worker.new("tcp-bad", tcp: @tcp, token: "wrong", handle_signals: false, reconnect: false)
    refused.activity("x.y") { nil }
    assert_equal Keel::UNAUTHORIZED, assert_raises(Keel::Error) { refused.run }.code

    tcp_worker = Keel::Worker.new("tcp-good", tcp: @tcp, token: "s3cret-s3cret-s3cret", handle_signals: false)
    tcp_worker.activity("tcp.upper") { |input| { "text" => input["text"].upcase } }
    runner = Thread.new { tcp_worker.run }
    Keel::Client.open(tcp: @tcp, token: "s3cret-s3cret-s3cret") do |client|
      result = client.call_activity("tcp.upper", { "text" => "hi" }, wait_timeout_ms: RESULT_TIMEOUT_MS)
      assert_equal({ "text" => "HI" }, result["output"])
    end
  ensure
    tcp_worker&.stop
    runner&.join(EXIT_TIMEOUT_S)
  end

  # Schedules (schedule/*): an every-second schedule starts its workflow (`sched.noop`, which no
  # worker serves, so each start stays pending) once per slot under ids "<scheduleId>-<slot>";
  # an id in use is refused 1021; paused it starts nothing but a trigger; deleted it is 1020.
  def test_a_schedule_starts_its_workflow_each_slot_and_can_be_paused_triggered_and_deleted
    id = "live-sched"
    spec = { "intervalMs" => 1000 }
    action = { "workflow" => "sched.noop", "input" => { "n" => 1 } }
    begin
      # allowAll: the pending starts never end, and under "skip" they would hold back every later slot.
      created = @client.create_schedule(id, spec: spec, action: action, overlap: "allowAll", note: "live")
    rescue Keel::Error => e
      raise unless e.code == Keel::METHOD_NOT_FOUND

      skip "this keel binary answers -32601 for schedule/create: no schedule support yet"
    end
    assert_equal [id, 1000, "allowAll", false, "live"], # Keel fills in the spec's defaults (offsetMs, jitterMs)
                 [*created.values_at("scheduleId"), created.dig("spec", "intervalMs"), *created.values_at("overlap", "paused", "note")],
                 created.inspect
    assert_equal "sched.noop", created.dig("action", "workflow")

    described = nil
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + (RESULT_TIMEOUT_MS / 1000.0)
    until (described = @client.describe_schedule(id))["started"] >= 2
      flunk "fewer than 2 starts in #{RESULT_TIMEOUT_MS} ms: #{described.inspect}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.2
    end
    ids = described["recentActions"].map { |a| a["workflowId"] }
    assert_operator ids.size, :>=, 2, described.inspect
    assert(ids.all? { |w| w.start_with?("#{id}-") }, ids.inspect)
    assert_equal ids.uniq, ids
    assert_equal "sched.noop", @client.describe_workflow(ids.first)["name"]

    again = assert_raises(Keel::Error) { @client.create_schedule(id, spec: spec, action: action) }
    assert_equal Keel::SCHEDULE_ALREADY_EXISTS, again.code

    assert_equal true, @client.pause_schedule(id, note: "stop")["paused"]
    assert_equal true, @client.describe_schedule(id)["paused"]
    triggered = @client.trigger_schedule(id)
    assert_equal [id, true], triggered.values_at("scheduleId", "started"), triggered.inspect
    assert triggered["workflowId"].start_with?("#{id}-"), triggered.inspect

    assert_includes @client.list_schedules["schedules"].map { |s| s["scheduleId"] }, id
    assert_equal({ "scheduleId" => id, "deleted" => true }, @client.delete_schedule(id))
    gone = assert_raises(Keel::Error) { @client.describe_schedule(id) }
    assert_equal Keel::SCHEDULE_NOT_FOUND, gone.code
  end

  private

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def wait_for(workflow_id)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + STARTUP_TIMEOUT_S
    until yield(@client.describe_workflow(workflow_id))
      flunk "#{workflow_id} never reached the state" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.02
    end
  end

  def skip_without_workflows
    @client.describe_workflow("no-such-workflow")
  rescue Keel::Error => e
    skip "this keel binary answers -32601 for workflow methods" if e.code == Keel::METHOD_NOT_FOUND
  end

  def wait_for_worker
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + STARTUP_TIMEOUT_S
    until @client.workers.any? { |w| w["name"] == "live-ruby" }
      flunk "the worker did not register: #{File.read(@log)}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.05
    end
  end

  def stop_server
    Process.kill("TERM", @server)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + EXIT_TIMEOUT_S
    until Process.wait(@server, Process::WNOHANG)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Process.kill("KILL", @server)
        Process.wait(@server)
        break
      end
      sleep 0.05
    end
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end
end
