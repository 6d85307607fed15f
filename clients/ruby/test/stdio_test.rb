# frozen_string_literal: true

require_relative "test_helper"
require "open3"

# The conformance worker as Keel spawns it (KEEL_TRANSPORT=stdio): stdout is the wire.
class StdioTest < Minitest::Test
  include TestSupport

  WORKER = File.expand_path("../conformance/worker.rb", __dir__)
  # Bound on the worker's exit after its stdin closes.
  EXIT_TIMEOUT_S = 10.0

  def test_closing_stdin_lets_running_work_answer_then_the_worker_exits_zero
    Open3.popen3({ "KEEL_TRANSPORT" => "stdio" }, RbConfig.ruby, WORKER) do |stdin, stdout, stderr, process|
      peer = Peer.new(stdout)
      writer = Peer.new(stdin)
      init = peer.receive
      writer.answer(init["id"], { "protocolVersion" => "1", "capabilities" => {} })
      writer.answer(peer.receive["id"], { "workerId" => "w-1" })
      writer.request("k1", "activity/execute", execute_params("t-1", "echo", { "x" => 1 }))
      assert_equal({ "output" => { "x" => 1 } }, peer.receive["result"], "a stray puts in echo must not reach stdout")
      writer.request("k2", "activity/execute", execute_params("t-2", "sleep", { "ms" => 300 }))
      sleep 0.05
      stdin.close
      assert_equal({ "output" => { "slept" => 300 } }, peer.receive["result"])
      assert process.join(EXIT_TIMEOUT_S), "the worker exits once stdin closed and work drained"
      assert_equal 0, process.value.exitstatus
      assert_match(/stray puts/, stderr.read)
    end
  end
end
