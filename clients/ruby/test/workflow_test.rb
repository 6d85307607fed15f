# frozen_string_literal: true

require_relative "test_helper"

class WorkflowTest < Minitest::Test
  include TestSupport

  def setup
    @dir = Dir.mktmpdir("kr", "/tmp")
    path = File.join(@dir, "k.sock")
    @server = UNIXServer.new(path)
    @worker = Keel::Worker.new("wf-worker", socket: path, handle_signals: false)
    define_workflows(@worker)
    @runner = Thread.new { @worker.run }
    @peer = Peer.new(@server.accept)
    @peer.handshake
  end

  def teardown
    @worker.stop
    @runner.join(5)
    @server.close
    FileUtils.remove_entry(@dir)
  end

  def define_workflows(worker)
    worker.workflow("seq") do |input, wf|
      r1 = wf.activity("echo", { "n" => input["n"] }, timeouts: { "startToCloseMs" => 1000 })
      { "n" => wf.activity("echo", { "n" => r1["n"] + 1 })["n"] }
    end
    worker.workflow("par") { |_input, wf| wf.all(wf.start_activity("echo", 1), wf.start_activity("echo", 2)) }
    worker.workflow("swallow") do |_input, wf|
      wf.sleep(5000)
    rescue StandardError
      "a plain rescue must not catch a suspend"
    end
    worker.workflow("waits") { |_input, wf| wf.signal("go", timeout_ms: 10) }
    worker.workflow("compensates") do |_input, wf|
      wf.activity("work")
    rescue Keel::Cancelled
      wf.activity("undo")
      raise
    end
    worker.workflow("kid") { |_input, wf| wf.child("seq", { "n" => 1 }, id: "kid-1") }
    worker.workflow("plain-kid") { |_input, wf| wf.child("seq") }
    worker.workflow("tagged-kid") do |_input, wf|
      a = wf.child("seq", { "n" => 1 }, id: "kid-1", search_attributes: { "customer" => "acme", "amount" => 12 },
                                         memo: { "source" => "batch" })
      b = wf.start_child("seq", 2, memo: { "note" => "hi" })
      c = wf.start_child("seq", 3, search_attributes: { "vip" => true })
      [a, *wf.all(b, c)]
    end
    worker.workflow("again") { |input, wf| wf.continue_as_new({ "i" => input["i"] + 1 }) }
    worker.workflow("answers-twice") do |_input, wf|
      update = wf.wait_for_update("approve")
      begin
        wf.respond(update, { "unlucky" => true })
      rescue Keel::Error => e
        wf.respond(update, { "refusedWith" => e.code })
      end
      "answered"
    end
    worker.workflow("patchy") do |_input, wf|
      patched = wf.patched?("add-discount")
      wf.activity("discount") if patched
      charge = wf.activity("charge")
      { "patched" => patched, "again" => wf.patched?("add-discount"), "charge" => charge }
    end
    worker.workflow("deprecates") do |_input, wf|
      wf.deprecate_patch("add-discount")
      wf.activity("charge")
    end
    worker.workflow("bad-patch") { |input, wf| input == "deprecate" ? wf.deprecate_patch("") : wf.patched?(input) }
    worker.workflow("publishes") do |_input, wf|
      wf.publish({ "pct" => 50 }, name: "progress")
      wf.publish("done")
      { "published" => 2 }
    end
    worker.workflow("prioritized") do |_input, wf|
      first = wf.activity("echo", 1, priority: 7, fairness_key: "tenant-a", timeouts: { "startToCloseMs" => 1000 })
      a, b = wf.all(wf.start_activity("echo", 2, priority: 0), wf.start_activity("echo", 3))
      [first, a, b]
    end
    worker.workflow("upserts") do |_input, wf|
      attributes = wf.upsert_search_attributes({ "customer" => "acme", "vip" => true })
      wf.upsert_search_attributes({ vip: nil })
      { "attributes" => attributes, "memo" => wf.upsert_memo({ "note" => "hi", "old" => nil }) }
    end
    worker.workflow("bad-upsert") { |input, wf| wf.upsert_memo(input) }
    worker.workflow("queries") do |_input, wf|
      wf.set_query_value("progress", { "pct" => 50 })
      wf.set_query_value("stage", nil)
      "done"
    end
    worker.workflow("bad-query") { |input, wf| wf.set_query_value(input, 1) }
    worker.workflow("updates") do |_input, wf|
      u = wf.wait_for_update("approve")
      next wf.reject(u, "amount #{u.input['amount']} is over 100") if u.input["amount"] > 100

      wf.respond(u, { "approved" => u.input["amount"] })
      [u.id, u.name]
    end
    worker.workflow("updates-by-id") do |_input, wf|
      u = wf.wait_for_update("order.approve", timeout_ms: 250)
      wf.reject(u.id, "no stock", type: "OutOfStock", details: { "sku" => "A-1" })
      wf.respond(u.id, nil)
    end
    worker.workflow("bad-update") do |input, wf|
      case input
      when "name" then wf.wait_for_update(:approve)
      when "id" then wf.respond("", 1)
      when "message" then wf.reject("u-1", nil)
      else wf.reject("u-1", "no", type: :Rejected)
      end
    end
    worker.workflow("naps") do |_input, _wf|
      sleep 60 # plain Ruby, no step
    rescue StandardError
      "a plain rescue must not catch a stop"
    end
  end

  def run_params(name, input, journal = [], workflow_id: "wf-1", run_id: 1)
    { "workflowId" => workflow_id, "runId" => run_id, "name" => name, "input" => input, "journal" => journal, "cancelRequested" => false }
  end

  def entry(seq, kind, name, result, status: "completed")
    { "seq" => seq, "kind" => kind, "name" => name, "status" => status, "result" => result }
  end

  def test_a_recorded_journal_replays_without_sending_steps
    @peer.request("r", "workflow/run", run_params("seq", { "n" => 1 }, [entry(1, "activity", "echo", { "n" => 7 }), entry(2, "activity", "echo", { "n" => 9 })]))
    assert_equal({ "status" => "completed", "output" => { "n" => 9 } }, @peer.receive["result"])
  end

  def test_live_steps_carry_seq_run_id_and_options
    @peer.request("r", "workflow/run", run_params("seq", { "n" => 1 }, [], run_id: 4))
    step = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 4, "seq" => 1, "kind" => "activity", "name" => "echo",
                   "input" => { "n" => 1 }, "options" => { "timeouts" => { "startToCloseMs" => 1000 } } }, step["params"])
    @peer.answer(step["id"], { "status" => "completed", "result" => { "n" => 1 } })
    step = @peer.receive
    assert_equal [2, { "n" => 2 }], step["params"].values_at("seq", "input")
    refute step["params"].key?("options")
    @peer.answer(step["id"], { "status" => "completed", "result" => { "n" => 2 } })
    assert_equal({ "n" => 2 }, @peer.receive.dig("result", "output"))
  end

  # docs/protocol.md "Priorities and fairness": a step's own priority and fairness key go in its
  # options; a step that sets neither sends neither (no default of the client's own).
  def test_step_priority_and_fairness_key_go_in_options_only_when_set
    @peer.request("r", "workflow/run", run_params("prioritized", nil))
    step = @peer.receive
    assert_equal({ "timeouts" => { "startToCloseMs" => 1000 }, "priority" => 7, "fairnessKey" => "tenant-a" },
                 step.dig("params", "options"))
    @peer.answer(step["id"], { "status" => "completed", "result" => "one" })
    steps = [@peer.receive, @peer.receive].sort_by { |s| s.dig("params", "seq") }
    assert_equal({ "priority" => 0 }, steps[0].dig("params", "options"))
    refute steps[1]["params"].key?("options"), steps[1].inspect
    steps.each_with_index { |s, i| @peer.answer(s["id"], { "status" => "completed", "result" => i }) }
    assert_equal ["one", 0, 1], @peer.receive.dig("result", "output")
  end

  def test_parallel_steps_are_numbered_at_start_and_matched_by_id
    @peer.request("r", "workflow/run", run_params("par", nil))
    steps = [@peer.receive, @peer.receive].sort_by { |s| s.dig("params", "seq") }
    assert_equal [[1, 1], [2, 2]], steps.map { |s| s["params"].values_at("seq", "input") }
    @peer.answer(steps[1]["id"], { "status" => "completed", "result" => "second" })
    @peer.answer(steps[0]["id"], { "status" => "completed", "result" => "first" })
    assert_equal %w[first second], @peer.receive.dig("result", "output")
  end

  def test_suspend_unwinds_even_through_a_plain_rescue
    @peer.request("r", "workflow/run", run_params("swallow", nil))
    step = @peer.receive
    assert_equal({ "durationMs" => 5000 }, step.dig("params", "input"))
    @peer.answer(step["id"], { "status" => "suspend" })
    assert_equal({ "status" => "suspended" }, @peer.receive["result"])
  end

  def test_a_signal_timeout_raises_timed_out
    @peer.request("r", "workflow/run", run_params("waits", nil))
    step = @peer.receive
    assert_equal ["signal", "go", { "timeoutMs" => 10 }], step["params"].values_at("kind", "name", "input")
    @peer.answer(step["id"], { "status" => "failed", "failure" => { "type" => "TimedOut", "message" => "no signal", "retryable" => false } })
    assert_equal({ "type" => "TimedOut", "message" => "no signal", "retryable" => false, "details" => nil },
                 @peer.receive.dig("result", "failure"))
  end

  def test_journal_mismatch_fails_the_run_naming_both_steps
    @peer.request("r", "workflow/run", run_params("seq", { "n" => 1 }, [entry(1, "sleep", "sleep", nil)]))
    failure = @peer.receive.dig("result", "failure")
    assert_equal "NonDeterminism", failure["type"]
    assert_match(/sleep "sleep".*activity "echo"/, failure["message"])
  end

  def test_keels_non_determinism_error_fails_the_run
    @peer.request("r", "workflow/run", run_params("seq", { "n" => 1 }))
    step = @peer.receive
    @peer.send_message({ "jsonrpc" => "2.0", "id" => step["id"], "error" => { "code" => 1003, "message" => "parked",
                                                                              "data" => { "seq" => 1, "journal" => { "kind" => "child", "name" => "x" }, "code" => { "kind" => "activity", "name" => "echo" } } } })
    failure = @peer.receive.dig("result", "failure")
    assert_equal "NonDeterminism", failure["type"]
    assert_match(/child "x"/, failure["message"])
  end

  def test_cancelled_is_catchable_for_compensation_and_reported_as_cancelled
    @peer.request("r", "workflow/run", run_params("compensates", nil))
    step = @peer.receive
    @peer.answer(step["id"], { "status" => "failed", "failure" => { "type" => "Cancelled", "message" => "by client", "retryable" => false } })
    undo = @peer.receive
    assert_equal [2, "undo"], undo["params"].values_at("seq", "name")
    @peer.answer(undo["id"], { "status" => "completed", "result" => nil })
    assert_equal ["failed", "Cancelled"], @peer.receive["result"].then { |r| [r["status"], r.dig("failure", "type")] }
  end

  def test_a_child_step_carries_its_input_and_id
    @peer.request("r", "workflow/run", run_params("kid", nil))
    step = @peer.receive
    assert_equal ["child", "seq", { "input" => { "n" => 1 }, "workflowId" => "kid-1" }], step["params"].values_at("kind", "name", "input")
    @peer.answer(step["id"], { "status" => "completed", "result" => { "n" => 2 } })
    assert_equal({ "n" => 2 }, @peer.receive.dig("result", "output"))
  end

  # Without search_attributes: or memo: the child step's input is as before (no null, no {}).
  def test_a_child_step_without_attributes_or_memo_is_unchanged
    @peer.request("r", "workflow/run", run_params("plain-kid", nil))
    step = @peer.receive
    assert_equal ["child", "seq", { "input" => nil }], step["params"].values_at("kind", "name", "input")
    refute step["params"].key?("options")
    @peer.answer(step["id"], { "status" => "completed", "result" => 1 })
    assert_equal 1, @peer.receive.dig("result", "output")
  end

  # docs/protocol.md step kind `child`: the child's own searchAttributes and memo, each only when
  # given, from both child and start_child.
  def test_a_child_step_carries_the_childs_search_attributes_and_memo
    @peer.request("r", "workflow/run", run_params("tagged-kid", nil))
    step = @peer.receive
    assert_equal ["child", "seq", { "input" => { "n" => 1 }, "workflowId" => "kid-1",
                                    "searchAttributes" => { "customer" => "acme", "amount" => 12 },
                                    "memo" => { "source" => "batch" } }],
                 step["params"].values_at("kind", "name", "input")
    @peer.answer(step["id"], { "status" => "completed", "result" => "a" })
    memo_only = @peer.receive
    assert_equal [2, { "input" => 2, "memo" => { "note" => "hi" } }], memo_only["params"].values_at("seq", "input")
    attributes_only = @peer.receive
    assert_equal [3, { "input" => 3, "searchAttributes" => { "vip" => true } }], attributes_only["params"].values_at("seq", "input")
    @peer.answer(memo_only["id"], { "status" => "completed", "result" => "b" })
    @peer.answer(attributes_only["id"], { "status" => "completed", "result" => "c" })
    assert_equal %w[a b c], @peer.receive.dig("result", "output")
  end

  def test_continue_as_new_answers_with_the_new_input
    @peer.request("r", "workflow/run", run_params("again", { "i" => 1 }))
    assert_equal({ "status" => "continueAsNew", "input" => { "i" => 2 } }, @peer.receive["result"])
  end

  def test_workflow_cancel_stops_the_named_run_at_once_and_no_step_follows
    @peer.request("r", "workflow/run", run_params("naps", nil, workflow_id: "wf-a", run_id: 3))
    @peer.request("s", "workflow/run", run_params("seq", { "n" => 1 }, workflow_id: "wf-b", run_id: 1))
    step = @peer.receive
    assert_equal "workflow/step", step["method"]
    @peer.send_message({ "jsonrpc" => "2.0", "method" => "workflow/cancel", "params" => { "workflowId" => "wf-a", "runId" => 2 } })
    @peer.request("p1", "ping", {})
    assert_equal "p1", @peer.receive["id"], "another run's notification is ignored"
    @peer.send_message({ "jsonrpc" => "2.0", "method" => "workflow/cancel",
                         "params" => { "workflowId" => "wf-a", "runId" => 3, "reason" => "terminated" } })
    answer = @peer.receive
    assert_equal ["r", Keel::ATTEMPT_SUPERSEDED], [answer["id"], answer.dig("error", "code")], answer.inspect
    assert_includes answer.dig("error", "message"), "terminated"

    @peer.send_message({ "jsonrpc" => "2.0", "method" => "workflow/cancel",
                         "params" => { "workflowId" => "wf-b", "runId" => 1, "reason" => "timed out" } })
    answer = @peer.receive
    assert_equal ["s", Keel::ATTEMPT_SUPERSEDED], [answer["id"], answer.dig("error", "code")], answer.inspect
    @peer.answer(step["id"], { "status" => "completed", "result" => { "n" => 1 } })
    @peer.request("p2", "ping", {})
    assert_equal "p2", @peer.receive["id"], "a stopped run sends no further step"
  end

  def test_patched_in_a_new_execution_records_one_marker_and_takes_the_new_path
    @peer.request("r", "workflow/run", run_params("patchy", nil, run_id: 2))
    marker = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 2, "seq" => 1, "kind" => "patch", "name" => "add-discount", "input" => {} },
                 marker["params"])
    @peer.answer(marker["id"], { "status" => "completed", "result" => true })
    discount = @peer.receive
    assert_equal [2, "discount"], discount["params"].values_at("seq", "name")
    @peer.answer(discount["id"], { "status" => "completed", "result" => "d" })
    charge = @peer.receive
    assert_equal [3, "charge"], charge["params"].values_at("seq", "name"), "the second patched? sends no marker"
    @peer.answer(charge["id"], { "status" => "completed", "result" => "c" })
    assert_equal({ "patched" => true, "again" => true, "charge" => "c" }, @peer.receive.dig("result", "output"))
  end

  def test_patched_in_replay_with_the_marker_sends_nothing_and_is_true
    journal = [entry(1, "patch", "add-discount", true), entry(2, "activity", "discount", "d"), entry(3, "activity", "charge", "c")]
    @peer.request("r", "workflow/run", run_params("patchy", nil, journal))
    assert_equal({ "status" => "completed", "output" => { "patched" => true, "again" => true, "charge" => "c" } }, @peer.receive["result"])
  end

  def test_patched_in_an_old_execution_is_false_and_leaves_the_seq_to_the_old_step
    @peer.request("r", "workflow/run", run_params("patchy", nil, [entry(1, "activity", "charge", "c")]))
    assert_equal({ "status" => "completed", "output" => { "patched" => false, "again" => false, "charge" => "c" } }, @peer.receive["result"])

    @peer.request("s", "workflow/run", run_params("patchy", nil, [{ "seq" => 1, "kind" => "activity", "name" => "charge", "status" => "scheduled" }],
                                                  workflow_id: "wf-2"))
    step = @peer.receive
    assert_equal [1, "activity", "charge"], step["params"].values_at("seq", "kind", "name"), "a still-scheduled old step keeps its seq"
    @peer.answer(step["id"], { "status" => "completed", "result" => "c" })
    assert_equal({ "patched" => false, "again" => false, "charge" => "c" }, @peer.receive.dig("result", "output"))
  end

  def test_a_marker_of_another_patch_is_not_this_patch
    @peer.request("r", "workflow/run", run_params("patchy", nil, [entry(1, "patch", "other-fix", true)]))
    failure = @peer.receive.dig("result", "failure")
    assert_equal "NonDeterminism", failure["type"], "false, and the seq is left to the next step, which mismatches"
  end

  def test_a_failed_marker_answer_fails_like_any_step
    @peer.request("r", "workflow/run", run_params("patchy", nil))
    marker = @peer.receive
    @peer.answer(marker["id"], { "status" => "failed", "failure" => { "type" => "Boom", "message" => "no", "retryable" => false } })
    assert_equal ["failed", "Boom"], @peer.receive["result"].then { |r| [r["status"], r.dig("failure", "type")] }
  end

  def test_deprecate_patch_records_the_marker_live_and_consumes_or_leaves_in_replay
    @peer.request("r", "workflow/run", run_params("deprecates", nil))
    marker = @peer.receive
    assert_equal [1, "patch", "add-discount", {}], marker["params"].values_at("seq", "kind", "name", "input")
    @peer.answer(marker["id"], { "status" => "completed", "result" => true })
    charge = @peer.receive
    assert_equal [2, "charge"], charge["params"].values_at("seq", "name")
    @peer.answer(charge["id"], { "status" => "completed", "result" => "c" })
    assert_equal "c", @peer.receive.dig("result", "output")

    @peer.request("s", "workflow/run", run_params("deprecates", nil, [entry(1, "patch", "add-discount", true), entry(2, "activity", "charge", "c2")],
                                                  workflow_id: "wf-2"))
    assert_equal({ "status" => "completed", "output" => "c2" }, @peer.receive["result"])
    @peer.request("t", "workflow/run", run_params("deprecates", nil, [entry(1, "activity", "charge", "c3")], workflow_id: "wf-3"))
    assert_equal({ "status" => "completed", "output" => "c3" }, @peer.receive["result"])
  end

  def test_an_empty_or_non_string_patch_id_is_refused
    ["", nil, 7].each do |id|
      @peer.request("r", "workflow/run", run_params("bad-patch", id))
      failure = @peer.receive.dig("result", "failure")
      assert_equal "ArgumentError", failure["type"], id.inspect
      assert_match(/patch id must be a non-empty String/, failure["message"])
    end
    @peer.request("d", "workflow/run", run_params("bad-patch", "deprecate"))
    assert_equal "ArgumentError", @peer.receive.dig("result", "failure", "type")
  end

  def test_unknown_workflows_get_method_not_found
    @peer.request("r", "workflow/run", run_params("nope", nil))
    assert_equal Keel::METHOD_NOT_FOUND, @peer.receive.dig("error", "code")
  end

  def test_publish_is_a_step_awaited_in_order_with_the_event_under_event_and_default_name_event
    @peer.request("r", "workflow/run", run_params("publishes", nil, run_id: 2))
    first = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 2, "seq" => 1, "kind" => "publish", "name" => "progress",
                   "input" => { "event" => { "pct" => 50 } } }, first["params"])
    @peer.request("p", "ping", {})
    assert_equal "p", @peer.receive["id"], "the second publish waits for the first one's answer"
    @peer.answer(first["id"], { "status" => "completed", "result" => nil })
    second = @peer.receive
    assert_equal [2, "publish", "event", { "event" => "done" }], second["params"].values_at("seq", "kind", "name", "input")
    @peer.answer(second["id"], { "status" => "completed", "result" => nil })
    assert_equal({ "status" => "completed", "output" => { "published" => 2 } }, @peer.receive["result"])
  end

  def test_publish_in_replay_sends_nothing
    journal = [entry(1, "publish", "progress", nil), entry(2, "publish", "event", nil)]
    @peer.request("r", "workflow/run", run_params("publishes", nil, journal))
    assert_equal({ "status" => "completed", "output" => { "published" => 2 } }, @peer.receive["result"])
  end

  # docs/protocol.md "Search attributes and memo": the Hash is the step's input as is, so a nil
  # value (a removal) reaches the wire as null instead of being dropped.
  def test_upserts_are_steps_awaited_in_order_and_a_nil_removal_is_sent_as_null
    @peer.request("r", "workflow/run", run_params("upserts", nil, run_id: 3))
    first = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 3, "seq" => 1, "kind" => "upsert", "name" => "searchAttributes",
                   "input" => { "customer" => "acme", "vip" => true } }, first["params"])
    @peer.request("p", "ping", {})
    assert_equal "p", @peer.receive["id"], "the second upsert waits for the first one's answer"
    @peer.answer(first["id"], { "status" => "completed", "result" => { "customer" => "acme", "vip" => true } })
    second = @peer.receive
    assert_equal [2, "upsert", "searchAttributes", { "vip" => nil }], second["params"].values_at("seq", "kind", "name", "input")
    assert second.dig("params", "input").key?("vip"), "the removal is sent, as null"
    @peer.answer(second["id"], { "status" => "completed", "result" => { "customer" => "acme" } })
    memo = @peer.receive
    assert_equal [3, "upsert", "memo", { "note" => "hi", "old" => nil }], memo["params"].values_at("seq", "kind", "name", "input")
    @peer.answer(memo["id"], { "status" => "completed", "result" => { "note" => "hi" } })
    assert_equal({ "status" => "completed", "output" => { "attributes" => { "customer" => "acme", "vip" => true },
                                                          "memo" => { "note" => "hi" } } }, @peer.receive["result"])
  end

  def test_upserts_in_replay_send_nothing_and_return_the_recorded_results
    journal = [entry(1, "upsert", "searchAttributes", { "customer" => "acme", "vip" => true }),
               entry(2, "upsert", "searchAttributes", { "customer" => "acme" }), entry(3, "upsert", "memo", { "note" => "hi" })]
    @peer.request("r", "workflow/run", run_params("upserts", nil, journal))
    assert_equal({ "status" => "completed", "output" => { "attributes" => { "customer" => "acme", "vip" => true },
                                                          "memo" => { "note" => "hi" } } }, @peer.receive["result"])
  end

  def test_an_upsert_of_something_other_than_a_hash_is_refused
    [nil, "note", [["note", "hi"]]].each do |input|
      @peer.request("r", "workflow/run", run_params("bad-upsert", input))
      failure = @peer.receive.dig("result", "failure")
      assert_equal "ArgumentError", failure["type"], input.inspect
      assert_match(/upsert memo takes a Hash/, failure["message"])
    end
  end

  # docs/protocol.md "Queries and signal-with-start": kind "query", the value under "value"
  # (nil sent as null), each awaited in program order; nothing sent on replay.
  def test_set_query_value_is_a_step_awaited_in_order_with_the_value_under_value
    @peer.request("r", "workflow/run", run_params("queries", nil, run_id: 5))
    first = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 5, "seq" => 1, "kind" => "query", "name" => "progress",
                   "input" => { "value" => { "pct" => 50 } } }, first["params"])
    @peer.request("p", "ping", {})
    assert_equal "p", @peer.receive["id"], "the second set_query_value waits for the first one's answer"
    @peer.answer(first["id"], { "status" => "completed", "result" => nil })
    second = @peer.receive
    assert_equal [2, "query", "stage", { "value" => nil }], second["params"].values_at("seq", "kind", "name", "input")
    assert second.dig("params", "input").key?("value"), "a nil value is sent, as null"
    @peer.answer(second["id"], { "status" => "completed", "result" => nil })
    assert_equal({ "status" => "completed", "output" => "done" }, @peer.receive["result"])
  end

  def test_set_query_value_in_replay_sends_nothing
    journal = [entry(1, "query", "progress", nil), entry(2, "query", "stage", nil)]
    @peer.request("r", "workflow/run", run_params("queries", nil, journal))
    assert_equal({ "status" => "completed", "output" => "done" }, @peer.receive["result"])
  end

  def test_a_query_name_that_is_not_a_string_is_refused
    [nil, 7, ["progress"]].each do |name|
      @peer.request("r", "workflow/run", run_params("bad-query", name))
      failure = @peer.receive.dig("result", "failure")
      assert_equal "ArgumentError", failure["type"], name.inspect
      assert_match(/query name must be a String/, failure["message"])
    end
  end

  # docs/protocol.md "Updates": received by a signal step "update:" + name (input {} or
  # {"timeoutMs"}), answered by a step of kind "respond" named by the update id, the result under
  # "result"; each awaited in program order.
  def test_an_update_is_received_by_a_signal_step_and_answered_by_a_respond_step_named_by_its_id
    @peer.request("r", "workflow/run", run_params("updates", nil, run_id: 6))
    receive = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 6, "seq" => 1, "kind" => "signal", "name" => "update:approve", "input" => {} },
                 receive["params"])
    @peer.answer(receive["id"], { "status" => "completed", "result" => { "updateId" => "u-1", "input" => { "amount" => 5 } } })
    respond = @peer.receive
    assert_equal({ "workflowId" => "wf-1", "runId" => 6, "seq" => 2, "kind" => "respond", "name" => "u-1",
                   "input" => { "result" => { "approved" => 5 } } }, respond["params"])
    @peer.request("p", "ping", {})
    assert_equal "p", @peer.receive["id"], "the run waits for the respond step's answer"
    @peer.answer(respond["id"], { "status" => "completed", "result" => nil })
    assert_equal({ "status" => "completed", "output" => %w[u-1 approve] }, @peer.receive["result"])
  end

  def test_a_refused_step_is_raised_into_the_workflow_which_may_answer_again
    @peer.request("r", "workflow/run", run_params("answers-twice", nil))
    receive = @peer.receive
    @peer.answer(receive["id"], { "status" => "completed", "result" => { "updateId" => "u-1", "input" => nil } })
    bad = @peer.receive
    @peer.send_message({ "jsonrpc" => "2.0", "id" => bad["id"],
                         "error" => { "code" => 3002, "message" => "the answer to update approve breaks its contract" } })
    again = @peer.receive
    assert_equal({ "seq" => 3, "kind" => "respond", "name" => "u-1", "input" => { "result" => { "refusedWith" => 3002 } } },
                 again["params"].slice("seq", "kind", "name", "input"))
    @peer.answer(again["id"], { "status" => "completed", "result" => nil })
    assert_equal({ "status" => "completed", "output" => "answered" }, @peer.receive["result"])
  end

  def test_an_update_in_replay_sends_nothing
    journal = [entry(1, "signal", "update:approve", { "updateId" => "u-1", "input" => { "amount" => 5 } }),
               entry(2, "respond", "u-1", nil)]
    @peer.request("r", "workflow/run", run_params("updates", nil, journal))
    assert_equal({ "status" => "completed", "output" => %w[u-1 approve] }, @peer.receive["result"])
  end

  def test_reject_sends_a_rejected_failure_under_failure_without_details_by_default
    @peer.request("r", "workflow/run", run_params("updates", nil))
    receive = @peer.receive
    @peer.answer(receive["id"], { "status" => "completed", "result" => { "updateId" => "u-2", "input" => { "amount" => 500 } } })
    reject = @peer.receive
    assert_equal [2, "respond", "u-2", { "failure" => { "type" => "Rejected", "message" => "amount 500 is over 100" } }],
                 reject["params"].values_at("seq", "kind", "name", "input")
    @peer.answer(reject["id"], { "status" => "completed", "result" => nil })
    assert_equal({ "status" => "completed", "output" => nil }, @peer.receive["result"], "reject returns nil")
  end

  def test_reject_and_respond_take_a_bare_update_id_and_reject_a_type_and_details
    @peer.request("r", "workflow/run", run_params("updates-by-id", nil))
    receive = @peer.receive
    assert_equal ["signal", "update:order.approve", { "timeoutMs" => 250 }], receive["params"].values_at("kind", "name", "input")
    @peer.answer(receive["id"], { "status" => "completed", "result" => { "updateId" => "u-3", "input" => nil } })
    reject = @peer.receive
    assert_equal ["respond", "u-3", { "failure" => { "type" => "OutOfStock", "message" => "no stock", "details" => { "sku" => "A-1" } } }],
                 reject["params"].values_at("kind", "name", "input")
    @peer.answer(reject["id"], { "status" => "completed", "result" => nil })
    respond = @peer.receive
    assert_equal [3, "respond", "u-3", { "result" => nil }], respond["params"].values_at("seq", "kind", "name", "input")
    assert respond.dig("params", "input").key?("result"), "a nil result is sent, as null"
    @peer.answer(respond["id"], { "status" => "completed", "result" => nil })
    assert_equal "completed", @peer.receive.dig("result", "status")
  end

  def test_an_update_wait_that_times_out_raises_timed_out
    @peer.request("r", "workflow/run", run_params("updates-by-id", nil))
    receive = @peer.receive
    @peer.answer(receive["id"], { "status" => "failed", "failure" => { "type" => "TimedOut", "message" => "no update", "retryable" => false } })
    assert_equal ["failed", "TimedOut"], @peer.receive["result"].then { |r| [r["status"], r.dig("failure", "type")] }
  end

  def test_a_bad_update_name_id_message_or_type_is_refused
    { "name" => /update name must be a String/, "id" => /update id must be a non-empty String/,
      "message" => /reject message must be a String/, "type" => /reject type must be a String/ }.each do |input, message|
      @peer.request("r", "workflow/run", run_params("bad-update", input))
      failure = @peer.receive.dig("result", "failure")
      assert_equal "ArgumentError", failure["type"], input
      assert_match message, failure["message"]
    end
  end

  def test_a_failed_publish_answer_fails_the_run
    @peer.request("r", "workflow/run", run_params("publishes", nil))
    step = @peer.receive
    @peer.answer(step["id"], { "status" => "failed", "failure" => { "type" => "EventTooLarge", "message" => "no", "retryable" => false } })
    assert_equal ["failed", "EventTooLarge"], @peer.receive["result"].then { |r| [r["status"], r.dig("failure", "type")] }
  end
end
