# frozen_string_literal: true

require_relative "test_helper"

# Client#follow (docs/protocol.md "Streams"): long polls of workflow/follow, the test playing Keel
# on a Unix socket it listens on (so the client can reconnect to it).
class FollowTest < Minitest::Test
  include TestSupport

  def setup
    @dir = Dir.mktmpdir("kf", "/tmp")
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

  # Accepts the client's connection and answers its initialize.
  def accept_client
    peer = Peer.new(@server.accept)
    init = peer.receive
    assert_equal "initialize", init["method"]
    peer.answer(init["id"], { "protocolVersion" => "1", "capabilities" => {} })
    peer
  end

  def event(offset, name = "event", payload = offset, source: "workflow")
    e = { "offset" => offset, "name" => name, "event" => payload, "atMs" => 1_700_000_000_000 + offset, "source" => source }
    source == "workflow" ? e.merge("seq" => offset) : e.merge("taskId" => "t-1", "attempt" => 1)
  end

  def page(events, next_offset, done: false, status: done ? "completed" : "running")
    { "workflowId" => "wf-1", "events" => events, "nextOffset" => next_offset, "status" => status, "done" => done }
  end

  # Receives the next workflow/follow request; returns [id, params].
  def next_follow(peer = @peer)
    request = peer.receive
    assert_equal "workflow/follow", request["method"]
    [request["id"], request["params"]]
  end

  def test_follow_pages_through_next_offset_and_stops_at_done
    seen = []
    following = Thread.new { @client.follow("wf-1") { |e| seen << e } }
    id, params = next_follow
    assert_equal({ "workflowId" => "wf-1", "afterOffset" => 0, "waitTimeoutMs" => 30_000 }, params)
    @peer.answer(id, page([event(1, "progress", { "pct" => 50 }), event(2, "progress", { "step" => 1 }, source: "activity")], 2))
    id, params = next_follow
    assert_equal 2, params["afterOffset"], "the next poll starts after the page's nextOffset"
    @peer.answer(id, page([], 2)) # a long poll that timed out: poll again from the same offset
    id, params = next_follow
    assert_equal 2, params["afterOffset"]
    @peer.answer(id, page([event(3, "event", "done")], 3, done: true))
    last = following.value
    assert_equal [1, 2, 3], seen.map { |e| e["offset"] }
    assert_equal %w[workflow activity workflow], seen.map { |e| e["source"] }
    assert_equal({ "pct" => 50 }, seen[0]["event"])
    assert_equal ["completed", true], last.values_at("status", "done")
    @peer.request("p", "ping", {}) # nothing more was asked: the next line from the client is the answer
    assert_equal "p", @peer.receive["id"]
  end

  def test_follow_from_an_offset_and_a_done_page_without_events_ends_it
    seen = []
    following = Thread.new { @client.follow("wf-1", after_offset: 5) { |e| seen << e["offset"] } }
    id, params = next_follow
    assert_equal 5, params["afterOffset"]
    @peer.answer(id, page([event(6)], 6))
    id, params = next_follow
    assert_equal 6, params["afterOffset"]
    @peer.answer(id, page([], 6, done: true, status: "failed"))
    assert_equal "failed", following.value["status"]
    assert_equal [6], seen
  end

  def test_an_event_at_or_below_the_offset_is_never_yielded_twice
    seen = []
    following = Thread.new { @client.follow("wf-1", after_offset: 1) { |e| seen << e["offset"] } }
    id, = next_follow
    @peer.answer(id, page([event(1), event(2)], 2, done: true))
    following.join(5)
    assert_equal [2], seen
  end

  def test_without_a_block_follow_is_an_enumerator
    enum = @client.follow("wf-1", limit: 2)
    assert_kind_of Enumerator, enum
    taking = Thread.new { enum.first(3).map { |e| e["offset"] } }
    id, params = next_follow
    assert_equal 2, params["limit"]
    @peer.answer(id, page([event(1), event(2)], 2))
    id, = next_follow
    @peer.answer(id, page([event(3), event(4)], 4))
    assert_equal [1, 2, 3], taking.value
  end

  def test_an_error_answer_raises
    following = Thread.new do
      Thread.current.report_on_exception = false
      @client.follow("nope").to_a
    end
    id, = next_follow
    @peer.send_message({ "jsonrpc" => "2.0", "id" => id, "error" => { "code" => 4001, "message" => "no workflow nope" } })
    error = assert_raises(Keel::Error) { following.value }
    assert_equal 4001, error.code
  end

  def test_a_poll_in_flight_at_a_drop_is_asked_again_from_the_same_offset_after_the_reconnect
    seen = []
    following = Thread.new { @client.follow("wf-1") { |e| seen << e["offset"] } }
    id, = next_follow
    @peer.answer(id, page([event(1), event(2)], 2))
    _id, params = next_follow
    assert_equal 2, params["afterOffset"]
    @peer.close # the connection drops while the long poll waits
    @peer = accept_client
    id, params = next_follow
    assert_equal 2, params["afterOffset"], "resumed from the last offset: nothing lost, nothing twice"
    @peer.answer(id, page([event(3)], 3, done: true))
    following.join(5)
    assert_equal [1, 2, 3], seen
  end

  def test_follow_page_sends_only_what_is_given
    paging = Thread.new { @client.follow_page("wf-1", after_offset: 3) }
    id, params = next_follow
    assert_equal({ "workflowId" => "wf-1", "afterOffset" => 3 }, params)
    @peer.answer(id, page([], 3))
    assert_equal 3, paging.value["nextOffset"]
  end

  def test_workflow_follow_is_a_read_for_reconnects
    assert Keel::Reconnect.safe_to_repeat?("workflow/follow", { "workflowId" => "w", "afterOffset" => 2 })
  end
end
