# frozen_string_literal: true

require_relative "test_helper"

class ConnectionTest < Minitest::Test
  def setup
    ours, theirs = UNIXSocket.pair
    @connection = Keel::Connection.new(ours, ours)
    @connection.on_request("ping") { {} }
    @connection.on_request("boom") { raise "kaput" }
    @connection.on_request("refuse") { raise Keel::Error.new(2005, "no", { "why" => 1 }) }
    @notes = Thread::Queue.new
    @connection.on_notification("note") { |params| @notes << params }
    @connection.start
    @peer = Peer.new(theirs)
  end

  def teardown
    @connection.close
    @peer.close
  end

  def test_calls_are_matched_by_id_even_when_answered_out_of_order
    first = @connection.call_async("a", { "n" => 1 })
    second = @connection.call_async("b", { "n" => 2 })
    requests = [@peer.receive, @peer.receive]
    assert_equal %w[a b], requests.map { |r| r["method"] }
    @peer.answer(requests[1]["id"], "two")
    @peer.answer(requests[0]["id"], "one")
    assert_equal "one", first.value(5)
    assert_equal "two", second.value(5)
  end

  def test_an_error_answer_raises_a_keel_error_with_code_and_data
    pending = @connection.call_async("x", {})
    request = @peer.receive
    @peer.send_message({ "jsonrpc" => "2.0", "id" => request["id"], "error" => { "code" => 2006, "message" => "old", "data" => [1] } })
    error = assert_raises(Keel::Error) { pending.value(5) }
    assert_equal [2006, "old", [1]], [error.code, error.message, error.data]
  end

  def test_a_call_times_out_with_a_bound
    assert_raises(Keel::Connection::Timeout) { @connection.call("slow", {}, timeout: 0.05) }
  end

  def test_requests_are_answered_with_the_peers_id_string_or_number
    @peer.request("p1", "ping", {})
    assert_equal({ "jsonrpc" => "2.0", "id" => "p1", "result" => {} }, @peer.receive)
    @peer.send_line('{"jsonrpc":"2.0","id":-1.5,"method":"ping"}')
    assert_equal(-1.5, @peer.receive["id"])
  end

  def test_bad_input_gets_coded_errors_and_the_connection_stays_up
    [["{oops", -32_700], ["42", -32_600], ['{"jsonrpc":"2.0","id":3,"method":"nope"}', -32_601],
     ['{"jsonrpc":"2.0","id":4,"method":"ping","params":[1]}', -32_602], ['{"x":NaN}', -32_700]].each do |line, code|
      @peer.send_line(line)
      assert_equal code, @peer.receive.dig("error", "code"), line
    end
    @peer.request(5, "ping", {})
    assert_equal 5, @peer.receive["id"]
  end

  def test_handler_errors_become_error_answers
    @peer.request(1, "refuse", {})
    assert_equal({ "code" => 2005, "message" => "no", "data" => { "why" => 1 } }, @peer.receive["error"])
    @peer.request(2, "boom", {})
    error = @peer.receive["error"]
    assert_equal(-32_603, error["code"])
    assert_match(/\A\h{12}\z/, error.dig("data", "incident"))
  end

  def test_batches_get_one_array_answer_and_notifications_none
    @peer.send_line('[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"note","params":{"k":1}},{"foo":1}]')
    answer = @peer.receive
    assert_equal [1, nil], answer.map { |a| a["id"] }.sort_by(&:to_s).reverse
    assert_equal({ "k" => 1 }, @notes.pop)
    @peer.send_line("[]")
    assert_equal(-32_600, @peer.receive.dig("error", "code"))
  end

  def test_closing_fails_pending_calls
    pending = @connection.call_async("x", {})
    @peer.receive
    @peer.close
    assert_raises(Keel::ConnectionClosed) { pending.value(5) }
    assert @connection.wait_closed(5)
  end
end
