# frozen_string_literal: true

require_relative "test_helper"

# What Keel::Client puts on the wire, with the test playing Keel over a real socket pair.
class ClientTest < Minitest::Test
  UUID_V4 = /\A\h{8}-\h{4}-4\h{3}-[89ab]\h{3}-\h{12}\z/

  def setup
    ours, theirs = UNIXSocket.pair
    @client = Keel::Client.new(Keel::Connection.new(ours, ours).start)
    @peer = Peer.new(theirs)
  end

  def teardown
    @client.close
    @peer.close
  end

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
end
