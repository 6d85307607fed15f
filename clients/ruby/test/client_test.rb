# frozen_string_literal: true

require_relative "test_helper"

# What Keel::Client puts on the wire, with the test playing Keel over a real socket pair.
class ClientTest < Minitest::Test
  UUID_V4 = /\A\h{8}-\h{4}-4\h{3}-[89ab]\h{3}-\h{12}\z/

  include PairedClient

  # Sends signal_workflow(*args) and answers it with `result`; returns [params sent, value returned].
  def signal(*args, result: { "delivered" => true, "consumed" => false, "duplicate" => false }, **options)
    call = Thread.new { @client.signal_workflow(*args, **options) }
    request = @peer.receive
    assert_equal "workflow/signal", request["method"]
    @peer.answer(request["id"], result)
    [request["params"], call.value]
  end

  def test_each_signal_carries_a_fresh_lowercase_uuid_request_id_by_default
    first, = signal("wf-1", "approve", { "n" => 1 })
    second, = signal("wf-1", "approve", { "n" => 1 })
    assert_equal({ "workflowId" => "wf-1", "name" => "approve", "payload" => { "n" => 1 } }, first.except("requestId"))
    assert_match UUID_V4, first["requestId"]
    assert_match UUID_V4, second["requestId"]
    refute_equal first["requestId"], second["requestId"]
  end

  def test_a_given_request_id_is_sent_as_is_and_the_duplicate_flag_comes_back
    params, result = signal("wf-1", "approve", "A", request_id: "approve-17", result: { "delivered" => true, "duplicate" => true })
    assert_equal({ "workflowId" => "wf-1", "name" => "approve", "payload" => "A", "requestId" => "approve-17" }, params)
    assert_equal true, result["duplicate"]
  end

  def test_request_id_nil_sends_none
    params, = signal("wf-1", "approve", request_id: nil)
    assert_equal({ "workflowId" => "wf-1", "name" => "approve", "payload" => nil }, params)
  end

  # Sends `method` through the block and answers it with `result`; returns the params sent.
  def sent_params(method, result)
    call = Thread.new { yield @client }
    request = @peer.receive
    assert_equal method, request["method"]
    @peer.answer(request["id"], result)
    call.value
    request["params"]
  end

  def test_call_activity_sends_priority_and_fairness_key_when_given
    params = sent_params("activity/call", { "taskId" => "t-1", "status" => "completed", "attempts" => 1, "output" => 1 }) do |c|
      c.call_activity("billing.charge", { "cents" => 5 }, priority: 9, fairness_key: "tenant-a")
    end
    assert_equal({ "name" => "billing.charge", "input" => { "cents" => 5 }, "wait" => true, "priority" => 9,
                   "fairnessKey" => "tenant-a" }, params)
  end

  def test_call_activity_without_waiting_sends_them_too
    params = sent_params("activity/call", { "taskId" => "t-1", "status" => "scheduled", "attempts" => 0 }) do |c|
      c.call_activity("billing.charge", nil, wait: false, priority: -3)
    end
    assert_equal({ "name" => "billing.charge", "input" => nil, "wait" => false, "priority" => -3 }, params)
  end

  def test_call_activity_without_them_sends_neither
    params = sent_params("activity/call", { "taskId" => "t-1", "status" => "completed", "attempts" => 1 }) do |c|
      c.call_activity("billing.charge", { "cents" => 5 })
    end
    refute params.key?("priority"), params.inspect
    refute params.key?("fairnessKey"), params.inspect
  end

  def test_start_workflow_sends_priority_and_fairness_key_when_given
    started = { "workflowId" => "order-17", "status" => "running", "started" => true }
    params = sent_params("workflow/start", started) do |c|
      c.start_workflow("orders.fulfil", { "order" => 17 }, workflow_id: "order-17", priority: 5, fairness_key: "acme")
    end
    assert_equal({ "name" => "orders.fulfil", "input" => { "order" => 17 }, "workflowId" => "order-17", "priority" => 5,
                   "fairnessKey" => "acme" }, params)
    params = sent_params("workflow/start", started) { |c| c.start_workflow("orders.fulfil", nil, fairness_key: "acme") }
    assert_equal({ "name" => "orders.fulfil", "input" => nil, "fairnessKey" => "acme" }, params)
    params = sent_params("workflow/start", started) { |c| c.start_workflow("orders.fulfil") }
    assert_equal({ "name" => "orders.fulfil", "input" => nil }, params)
  end

  # docs/protocol.md "Search attributes and memo": sent as given (camelCase names, nil values
  # kept), and only when given.
  def test_start_workflow_sends_search_attributes_and_memo_when_given
    started = { "workflowId" => "order-17", "status" => "running", "started" => true }
    params = sent_params("workflow/start", started) do |c|
      c.start_workflow("orders.fulfil", nil, search_attributes: { "customer" => "acme", "tier" => 1 }, memo: { "owner" => nil })
    end
    assert_equal({ "name" => "orders.fulfil", "input" => nil, "searchAttributes" => { "customer" => "acme", "tier" => 1 },
                   "memo" => { "owner" => nil } }, params)
    params = sent_params("workflow/start", started) { |c| c.start_workflow("orders.fulfil", nil, memo: {}) }
    assert_equal({ "name" => "orders.fulfil", "input" => nil, "memo" => {} }, params)
  end

  # docs/protocol.md "Queries and signal-with-start": workflow/start with a `signal` whose
  # requestId is a fresh UUID by default, as signal_workflow's; the start options as start_workflow's.
  def test_signal_with_start_sends_the_signal_with_a_fresh_request_id_by_default
    answer = { "workflowId" => "sws-1", "status" => "running", "started" => true,
               "signal" => { "delivered" => true, "duplicate" => false } }
    result = nil
    first = sent_params("workflow/start", answer) do |c|
      result = c.signal_with_start("orders.fulfil", { "order" => 17 }, "go", { "n" => 1 }, workflow_id: "sws-1")
    end
    assert_equal answer, result
    assert_equal({ "name" => "orders.fulfil", "input" => { "order" => 17 }, "workflowId" => "sws-1",
                   "signal" => { "name" => "go", "payload" => { "n" => 1 } } },
                 first.merge("signal" => first["signal"].except("requestId")))
    assert_match UUID_V4, first.dig("signal", "requestId")
    second = sent_params("workflow/start", answer) { |c| c.signal_with_start("orders.fulfil", nil, "go", workflow_id: "sws-1") }
    assert_match UUID_V4, second.dig("signal", "requestId")
    refute_equal first.dig("signal", "requestId"), second.dig("signal", "requestId")
    assert_equal({ "name" => "go", "payload" => nil }, second["signal"].except("requestId"), "a missing payload is sent as null")
  end

  def test_signal_with_start_takes_a_request_id_and_start_options_and_nil_sends_no_request_id
    answer = { "workflowId" => "sws-2", "status" => "running", "started" => false,
               "signal" => { "delivered" => true, "duplicate" => true } }
    params = sent_params("workflow/start", answer) do |c|
      c.signal_with_start("orders.fulfil", nil, "go", "A", request_id: "go-17", workflow_id: "sws-2", conflict_policy: "useExisting",
                                                           priority: 3, fairness_key: "acme", search_attributes: { "customer" => "acme" },
                                                           memo: { "owner" => "ops" })
    end
    assert_equal({ "name" => "orders.fulfil", "input" => nil, "workflowId" => "sws-2", "conflictPolicy" => "useExisting",
                   "priority" => 3, "fairnessKey" => "acme", "searchAttributes" => { "customer" => "acme" },
                   "memo" => { "owner" => "ops" }, "signal" => { "name" => "go", "payload" => "A", "requestId" => "go-17" } }, params)
    params = sent_params("workflow/start", answer) { |c| c.signal_with_start("orders.fulfil", nil, "go", request_id: nil) }
    assert_equal({ "name" => "orders.fulfil", "input" => nil, "signal" => { "name" => "go", "payload" => nil } }, params)
    assert_raises(ArgumentError) { @client.signal_with_start("orders.fulfil", nil, "go", workflow: "typo") }
  end

  def test_query_workflow_sends_id_and_name_and_returns_the_value
    value = nil
    params = sent_params("workflow/query", { "workflowId" => "wf-1", "name" => "progress", "value" => { "pct" => 50 },
                                             "seq" => 3, "atMs" => 1_765_000_000_000, "status" => "running" }) do |c|
      value = c.query_workflow("wf-1", "progress")
    end
    assert_equal({ "workflowId" => "wf-1", "name" => "progress" }, params)
    assert_equal({ "pct" => 50 }, value)
  end

  def test_an_unknown_query_name_raises_query_not_found_with_its_data
    call = Thread.new do
      Thread.current.report_on_exception = false # the raise is the point: call.value re-raises it here
      @client.query_workflow("wf-1", "progres")
    end
    request = @peer.receive
    assert_equal "workflow/query", request["method"]
    data = { "workflowId" => "wf-1", "name" => "progres", "known" => ["progress"] }
    @peer.send_message({ "jsonrpc" => "2.0", "id" => request["id"],
                         "error" => { "code" => 1030, "message" => "no query progres", "data" => data } })
    error = assert_raises(Keel::Error) { call.value }
    assert_equal [1030, Keel::QUERY_NOT_FOUND, data], [error.code, Keel::QUERY_NOT_FOUND, error.data]
  end

  def test_list_workflows_passes_query_and_filters_as_a_hash_or_keywords
    listed = { "workflows" => [] }
    query = 'customer = "acme" AND stage = "shipped"'
    params = sent_params("workflow/list", listed) { |c| c.list_workflows(query: query, limit: 5) }
    assert_equal({ "query" => query, "limit" => 5 }, params)
    params = sent_params("workflow/list", listed) { |c| c.list_workflows("status" => "running") }
    assert_equal({ "status" => "running" }, params)
    params = sent_params("workflow/list", listed) { |c| c.list_workflows({ "status" => "running" }, query: query) }
    assert_equal({ "status" => "running", "query" => query }, params)
    assert_equal({}, sent_params("workflow/list", listed, &:list_workflows))
  end

  def test_a_bad_query_raises_invalid_query_with_its_data
    call = Thread.new do
      Thread.current.report_on_exception = false # the raise is the point: call.value re-raises it here
      @client.list_workflows(query: "stauts = 1")
    end
    request = @peer.receive
    data = { "query" => "stauts = 1", "position" => 0, "token" => "stauts" }
    @peer.send_message({ "jsonrpc" => "2.0", "id" => request["id"],
                         "error" => { "code" => 1013, "message" => "bad query at 0", "data" => data } })
    error = assert_raises(Keel::Error) { call.value }
    assert_equal [Keel::INVALID_QUERY, data], [error.code, error.data]
  end
end
