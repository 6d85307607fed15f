# frozen_string_literal: true

require_relative "test_helper"

# What Keel::Client's schedule methods put on the wire (schedule/*), with the test playing Keel
# over a real socket pair: each optional parameter only when given; errors 1020/1021 as Keel::Error.
class ScheduleClientTest < Minitest::Test
  DESCRIBED = { "scheduleId" => "nightly", "spec" => { "intervalMs" => 60_000 }, "action" => { "workflow" => "reports.daily" },
                "overlap" => "skip", "catchupWindowMs" => 31_536_000_000, "paused" => false, "createdAtMs" => 1,
                "updatedAtMs" => 1, "nextActionTimesMs" => [], "recentActions" => [], "started" => 0, "skipped" => 0 }.freeze

  include PairedClient

  # Sends `method` through the block and answers it with `result`; returns [params sent, value returned].
  def exchange(method, result = DESCRIBED)
    call = Thread.new { yield @client }
    request = @peer.receive
    assert_equal method, request["method"]
    @peer.answer(request["id"], result)
    [request["params"], call.value]
  end

  # Sends `method` through the block and answers it with the error `code`; returns the Keel::Error raised.
  def refused(method, code)
    call = Thread.new do
      yield @client
    rescue Keel::Error => e
      e
    end
    request = @peer.receive
    assert_equal method, request["method"]
    @peer.send_message({ "jsonrpc" => "2.0", "id" => request["id"], "error" => { "code" => code, "message" => "no" } })
    call.value
  end

  def test_create_schedule_sends_spec_and_action_as_given_and_only_the_options_set
    spec = { "cron" => "0 9 * * MON-FRI", "timeZone" => "Europe/Paris", "jitterMs" => 5000 }
    action = { "workflow" => "reports.daily", "input" => { "team" => 7 }, "priority" => 3 }
    params, result = exchange("schedule/create") do |c|
      c.create_schedule("nightly", spec: spec, action: action, overlap: "bufferOne", catchup_window_ms: 60_000,
                                   paused: false, note: "by ops")
    end
    assert_equal({ "scheduleId" => "nightly", "spec" => spec, "action" => action, "overlap" => "bufferOne",
                   "catchupWindowMs" => 60_000, "paused" => false, "note" => "by ops" }, params)
    assert_equal DESCRIBED, result
    params, = exchange("schedule/create") do |c|
      c.create_schedule("nightly", spec: { "intervalMs" => 60_000 }, action: { "workflow" => "reports.daily" })
    end
    assert_equal({ "scheduleId" => "nightly", "spec" => { "intervalMs" => 60_000 }, "action" => { "workflow" => "reports.daily" } },
                 params)
  end

  def test_describe_and_delete_send_the_schedule_id
    params, result = exchange("schedule/describe") { |c| c.describe_schedule("nightly") }
    assert_equal({ "scheduleId" => "nightly" }, params)
    assert_equal DESCRIBED, result
    params, result = exchange("schedule/delete", { "scheduleId" => "nightly", "deleted" => true }) { |c| c.delete_schedule("nightly") }
    assert_equal({ "scheduleId" => "nightly" }, params)
    assert_equal true, result["deleted"]
  end

  def test_list_schedules_sends_limit_and_cursor_only_when_given
    page = { "schedules" => [{ "scheduleId" => "nightly", "workflow" => "reports.daily", "spec" => {}, "paused" => false }],
             "nextCursor" => "c-2" }
    params, result = exchange("schedule/list", page) { |c| c.list_schedules }
    assert_equal({}, params)
    assert_equal page, result
    params, = exchange("schedule/list", page) { |c| c.list_schedules(limit: 10, cursor: "c-2") }
    assert_equal({ "limit" => 10, "cursor" => "c-2" }, params)
  end

  def test_pause_and_unpause_send_the_note_only_when_given
    params, = exchange("schedule/pause") { |c| c.pause_schedule("nightly", note: "maintenance") }
    assert_equal({ "scheduleId" => "nightly", "note" => "maintenance" }, params)
    params, = exchange("schedule/pause") { |c| c.pause_schedule("nightly") }
    assert_equal({ "scheduleId" => "nightly" }, params)
    params, = exchange("schedule/unpause") { |c| c.unpause_schedule("nightly", note: "done") }
    assert_equal({ "scheduleId" => "nightly", "note" => "done" }, params)
    params, = exchange("schedule/unpause") { |c| c.unpause_schedule("nightly") }
    assert_equal({ "scheduleId" => "nightly" }, params)
  end

  def test_trigger_schedule_sends_overlap_only_when_given
    triggered = { "scheduleId" => "nightly", "workflowId" => "nightly-2026-12-05T08:00:00Z", "started" => true }
    params, result = exchange("schedule/trigger", triggered) { |c| c.trigger_schedule("nightly") }
    assert_equal({ "scheduleId" => "nightly" }, params)
    assert_equal triggered, result
    params, = exchange("schedule/trigger", triggered) { |c| c.trigger_schedule("nightly", overlap: "allowAll") }
    assert_equal({ "scheduleId" => "nightly", "overlap" => "allowAll" }, params)
  end

  def test_schedule_errors_raise_keel_error_with_their_code
    error = refused("schedule/describe", 1020) { |c| c.describe_schedule("gone") }
    assert_kind_of Keel::Error, error
    assert_equal Keel::SCHEDULE_NOT_FOUND, error.code
    error = refused("schedule/create", 1021) do |c|
      c.create_schedule("nightly", spec: { "intervalMs" => 1000 }, action: { "workflow" => "w" })
    end
    assert_kind_of Keel::Error, error
    assert_equal Keel::SCHEDULE_ALREADY_EXISTS, error.code
  end

  # Reading a schedule is repeated after a reconnect; changing one is not (a repeated create
  # would answer 1021, a repeated trigger start twice).
  def test_only_schedule_reads_are_repeated_after_a_drop
    assert Keel::Reconnect.safe_to_repeat?("schedule/describe", { "scheduleId" => "s" })
    assert Keel::Reconnect.safe_to_repeat?("schedule/list", {})
    %w[schedule/create schedule/pause schedule/unpause schedule/trigger schedule/delete].each do |method|
      refute Keel::Reconnect.safe_to_repeat?(method, { "scheduleId" => "s" }), method
    end
  end
end
