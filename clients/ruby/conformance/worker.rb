# frozen_string_literal: true

# The Ruby client under test for clients/conformance/: the fixed activities every language's
# conformance worker registers (mirroring clients/python/tests/conformance_worker.py) and the
# fixed conformance workflows. Talks stdio:
#   python3 clients/conformance/run.py --cmd "ruby clients/ruby/conformance/worker.rb"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "keel"

# Bound on waits inside the test activities, so a broken client never hangs the runner for long.
WAIT_BOUND_S = 30.0

worker = Keel::Worker.new("conformance-worker", max_concurrent: 4)

# A plain exception: the client must report it as retryable with type "CrashError".
class CrashError < StandardError; end

worker.activity("echo", input: { "type" => "object" }, output: { "type" => "object" }, description: "Returns its input.") do |input|
  puts "a stray puts from echo: must reach stderr, never the wire"
  input
end

worker.activity("upper_sync") { |input| { "text" => input["text"].upcase } }

worker.activity("fail") do |input|
  raise Keel::ActivityError.new("fail was called", type: "BadInput", retryable: false, details: { "input" => input })
end

worker.activity("retry", retry_policy: Keel::RetryPolicy.new(maximum_attempts: 3, non_retryable_error_types: ["BadInput"]),
                         start_to_close_ms: 5000) do
  raise Keel::ActivityError.new("429 from the API", type: "RateLimited", retry_after_ms: 2000, details: { "status" => 429 })
end

worker.activity("crash") { raise CrashError, "boom" }

worker.activity("hb") do |_input, ctx|
  ctx.heartbeat({ "page" => 1 })
  ctx.heartbeat({ "page" => 2 })
  { "taskId" => ctx.task_id, "attempt" => ctx.attempt, "idempotencyKey" => ctx.idempotency_key, "previous" => ctx.heartbeat_details }
end

worker.activity("slow") do |_input, ctx|
  ctx.heartbeat({ "started" => true })
  ctx.sleep(WAIT_BOUND_S) # wakes and raises Keel::Cancelled on cancellation
  { "cancelled" => false }
end

barrier = { waiting: 0, mutex: Mutex.new, released: ConditionVariable.new }
worker.activity("barrier") do |input|
  barrier[:mutex].synchronize do
    barrier[:waiting] += 1
    barrier[:released].broadcast if barrier[:waiting] >= input["count"]
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + WAIT_BOUND_S
    while barrier[:waiting] < input["count"] && (left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)).positive?
      barrier[:released].wait(barrier[:mutex], left)
    end
  end
  { "released" => true }
end

worker.activity("sleep") do |input|
  sleep(input["ms"] / 1000.0)
  { "slept" => input["ms"] }
end

worker.activity("progress") do |input, ctx|
  (1..input["steps"]).each { |i| ctx.publish({ "step" => i }, name: "progress") } # a refusal raises: the activity fails
  { "published" => input["steps"] }
end

# The fixed conformance workflows (same in every language).

worker.workflow("wf.sequence") do |input, wf|
  r1 = wf.activity("echo", { "n" => input["n"] })
  r2 = wf.activity("echo", { "n" => r1["n"] + 1 })
  { "n" => r2["n"] }
end

worker.workflow("wf.parallel") do |_input, wf|
  first = wf.start_activity("echo", { "i" => 1 })
  second = wf.start_activity("echo", { "i" => 2 })
  a, b = wf.all(first, second)
  { "a" => a, "b" => b }
end

worker.workflow("wf.sleepSignal") do |_input, wf|
  wf.sleep(1000)
  { "signal" => wf.signal("go") }
end

worker.workflow("wf.sideEffects") do |_input, wf|
  t = wf.now
  r = wf.random
  u = wf.uuid
  { "t" => t, "r" => r, "u" => u }
end

worker.workflow("wf.child") { |input, wf| { "child" => wf.child("wf.sequence", { "n" => input["n"] }) } }

worker.workflow("wf.cancellable") do |_input, wf|
  wf.activity("echo", { "step" => "work" })
rescue Keel::Cancelled
  wf.activity("echo", { "step" => "compensate" })
  raise
end

worker.workflow("wf.loop") do |input, wf|
  if input["i"] < 3
    wf.activity("echo", { "i" => input["i"] })
    wf.continue_as_new({ "i" => input["i"] + 1 })
  end
  { "done" => input["i"] }
end

worker.workflow("wf.patched") do |_input, wf|
  patched = wf.patched?("add-discount")
  wf.activity("echo", { "step" => "discount" }) if patched
  charge = wf.activity("echo", { "step" => "charge" })
  again = wf.patched?("add-discount")
  { "patched" => patched, "again" => again, "charge" => charge }
end

worker.workflow("wf.deprecatedPatch") do |_input, wf|
  wf.deprecate_patch("add-discount")
  { "charge" => wf.activity("echo", { "step" => "charge" }) }
end

worker.workflow("wf.publish") do |_input, wf|
  wf.publish({ "pct" => 50 }, name: "progress")
  wf.publish("done")
  { "published" => 2 }
end

# Case 48: the first step sets its own priority and fairness key; the second sets neither, so it
# sends neither (the execution's apply).
worker.workflow("wf.priority") do |input, wf|
  first = wf.activity("echo", input, priority: 7, fairness_key: "tenant-a")
  second = wf.activity("echo", input)
  { "first" => first, "second" => second }
end

# Case 49: each upsert's result is the merged set; the `vip` removal is sent as null.
worker.workflow("wf.upsert") do |_input, wf|
  attributes = wf.upsert_search_attributes({ "customer" => "acme", "amount" => 42, "vip" => true })
  wf.upsert_search_attributes({ "vip" => nil })
  memo = wf.upsert_memo({ "note" => "hi" })
  { "attributes" => attributes, "memo" => memo }
end

# Case 50: two query values under one name, each a step awaited in order.
worker.workflow("wf.query") do |_input, wf|
  wf.set_query_value("progress", { "pct" => 50 })
  wf.set_query_value("progress", { "pct" => 100 })
  "done"
end

# Case 51: an update received (signal step "update:approve"), then answered or rejected by a
# respond step named by the update id.
worker.workflow("wf.update") do |_input, wf|
  u = wf.wait_for_update("approve")
  amount = u.input["amount"]
  if amount > 100
    wf.reject(u, "amount #{amount} is over 100")
    next { "approved" => false }
  end
  wf.respond(u, { "approved" => amount })
  { "approved" => true }
end

worker.run
