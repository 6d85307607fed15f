# frozen_string_literal: true

require_relative "test_helper"

# Client#update_workflow (docs/protocol.md "Updates"): what it puts on the wire and what it
# returns, the test playing Keel over a real socket pair.
class UpdateTest < Minitest::Test
  UUID_V4 = /\A\h{8}-\h{4}-4\h{3}-[89ab]\h{3}-\h{12}\z/

  include PairedClient

  def completed(update_id, result = { "approved" => 5 })
    { "workflowId" => "order-17", "updateId" => update_id, "name" => "approve", "status" => "completed", "result" => result }
  end

  # Sends update_workflow(*args, **options), answers it with the block's result for the request's
  # params (or an error object under "error"); returns [params sent, value returned].
  def update(*args, **options)
    call = Thread.new do
      Thread.current.report_on_exception = false # a raise is re-raised by call.value
      @client.update_workflow(*args, **options)
    end
    request = @peer.receive
    assert_equal "workflow/update", request["method"]
    answer = yield request["params"]
    if answer.key?("code")
      @peer.send_message({ "jsonrpc" => "2.0", "id" => request["id"], "error" => answer })
    else
      @peer.answer(request["id"], answer)
    end
    [request["params"], call.value]
  end

  def test_each_update_carries_a_fresh_uuid_update_id_by_default_and_returns_the_whole_result
    first, result = update("order-17", "approve", { "amount" => 5 }) { |params| completed(params["updateId"]) }
    assert_equal({ "workflowId" => "order-17", "name" => "approve", "input" => { "amount" => 5 } }, first.except("updateId"))
    assert_match UUID_V4, first["updateId"]
    assert_equal completed(first["updateId"]), result
    second, = update("order-17", "approve", { "amount" => 5 }, update_id: nil) { |params| completed(params["updateId"]) }
    assert_match UUID_V4, second["updateId"]
    refute_equal first["updateId"], second["updateId"]
  end

  def test_a_given_update_id_and_wait_timeout_are_sent_as_is_and_a_missing_input_as_null
    params, result = update("order-17", "approve", update_id: "u-1", wait_timeout_ms: 0) do
      { "workflowId" => "order-17", "updateId" => "u-1", "name" => "approve", "status" => "pending" }
    end
    assert_equal({ "workflowId" => "order-17", "name" => "approve", "input" => nil, "updateId" => "u-1", "waitTimeoutMs" => 0 }, params)
    assert_equal "pending", result["status"]
  end

  def test_a_rejected_update_returns_its_failure
    failure = { "type" => "Rejected", "message" => "amount 500 is over 100", "details" => { "limit" => 100 } }
    _, result = update("order-17", "approve", { "amount" => 500 }, update_id: "u-2") do
      { "workflowId" => "order-17", "updateId" => "u-2", "name" => "approve", "status" => "rejected", "failure" => failure }
    end
    assert_equal ["rejected", failure], result.values_at("status", "failure")
    refute result.key?("result")
  end

  def test_an_unanswered_update_raises_update_unanswered_with_its_data
    data = { "workflowId" => "order-17", "updateId" => "u-3", "status" => "completed" }
    error = assert_raises(Keel::Error) do
      update("order-17", "approve", update_id: "u-3") { { "code" => 1031, "message" => "ended unanswered", "data" => data } }
    end
    assert_equal [1031, data], [error.code, error.data]
    assert_equal Keel::UPDATE_UNANSWERED, error.code
  end

  def test_an_input_contract_violation_and_an_unknown_workflow_raise_their_codes
    [Keel::INPUT_CONTRACT_VIOLATION, Keel::WORKFLOW_NOT_FOUND, Keel::INVALID_PARAMS].each do |code|
      error = assert_raises(Keel::Error) { update("order-17", "approve", 1) { { "code" => code, "message" => "no" } } }
      assert_equal code, error.code
    end
  end
end

# An update in flight when the connection drops is sent again after the reconnect with the same
# updateId (Keel delivers it once), the test playing Keel on a Unix socket it listens on.
class UpdateReconnectTest < Minitest::Test
  def setup
    @dir = Dir.mktmpdir("ku", "/tmp")
    path = File.join(@dir, "k.sock")
    @server = UNIXServer.new(path)
    connecting = Thread.new { Keel::Client.connect(socket: path, reconnect_initial: 0.01, reconnect_max: 0.05) }
    @peer = accept_client
    @client = connecting.value
  end

  def teardown
    @client&.close
    @peer&.close
    @server&.close
    FileUtils.remove_entry(@dir)
  end

  # Accepts the client's connection (failing the test after Peer::TIMEOUT_S) and answers its initialize.
  def accept_client
    flunk "the client did not connect within #{Peer::TIMEOUT_S}s" unless @server.wait_readable(Peer::TIMEOUT_S)
    peer = Peer.new(@server.accept)
    init = peer.receive
    assert_equal "initialize", init["method"]
    peer.answer(init["id"], { "protocolVersion" => "1", "capabilities" => {} })
    peer
  end

  def test_an_update_in_flight_at_a_drop_is_sent_again_with_the_same_update_id
    updating = Thread.new { @client.update_workflow("order-17", "approve", { "amount" => 5 }) }
    first = @peer.receive
    assert_equal "workflow/update", first["method"]
    @peer.close # the connection drops while the update waits for its answer
    @peer = accept_client
    again = @peer.receive
    assert_equal ["workflow/update", first["params"]], again.values_at("method", "params"), "the same update, the same id"
    result = { "workflowId" => "order-17", "updateId" => again.dig("params", "updateId"), "name" => "approve",
               "status" => "completed", "result" => { "approved" => 5 } }
    @peer.answer(again["id"], result)
    assert_equal result, updating.value
  end
end
