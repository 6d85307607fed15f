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
