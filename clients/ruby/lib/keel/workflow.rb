# frozen_string_literal: true

require_relative "errors"
require_relative "connection"

module Keel
  # Internal control flow of a workflow run. Not StandardError subclasses, so `rescue => e` in
  # workflow code does not swallow them.
  module WorkflowSignals
    # A step was answered `suspend`: unwind the function; the run answers `suspended`.
    class Suspend < Exception; end # rubocop:disable Lint/InheritException

    # `continue_as_new` was called: the run answers `continueAsNew` with `input`.
    class ContinueAsNew < Exception # rubocop:disable Lint/InheritException
      attr_reader :input

      def initialize(input)
        super("continue as new")
        @input = input
      end
    end

    # The run cannot go on here (connection lost, runId superseded): answer with `error`.
    class Abandon < Exception # rubocop:disable Lint/InheritException
      attr_reader :error

      def initialize(error)
        super(error.message)
        @error = error
      end
    end

    # Raised into the run's thread by WorkflowRun#stop (the `workflow/cancel` notification: Keel
    # ended the execution). Unwinds the function wherever it is, even in a plain `sleep` or a
    # loop without steps; the run then answers `error` (2006), which Keel ignores.
    class Stopped < Abandon; end
  end

  # A durable step started by a workflow: `value` blocks until its answer and returns the result,
  # or raises the step's failure (StepFailed, Cancelled, TimedOut). Recorded steps are answered
  # from the journal without waiting. `value` may be called more than once.
  class Step
    attr_reader :seq, :kind, :name

    def initialize(run, seq, kind, name, recorded: nil, pending: nil)
      @run = run
      @seq = seq
      @kind = kind
      @name = name
      @recorded = recorded
      @pending = pending
    end

    # True for a step answered from the journal (replay).
    def replayed? = !@recorded.nil?

    def value
      @answer ||= @recorded || @run.await(@pending, self)
      @run.outcome(@answer)
    end
  end

  # An update received by WorkflowContext#wait_for_update (docs/protocol.md "Updates"): `id` is
  # the client's updateId (what `respond` and `reject` answer), `name` the update's name (without
  # the "update:" prefix of its step), `input` the client's input (any JSON).
  Update = Struct.new(:id, :name, :input)

  # What a workflow function gets: its identity and the durable steps. Every step is numbered
  # (`seq`) when it is *started*, in program order, so numbering is deterministic even when
  # parallel steps finish in another order. Only this object's methods may touch the outside
  # world: no clocks, randomness or I/O directly in workflow code.
  class WorkflowContext
    attr_reader :workflow_id, :run_id, :name, :input

    def initialize(run, params)
      @run = run
      @workflow_id = params["workflowId"]
      @run_id = params["runId"]
      @name = params["name"]
      @input = params["input"]
      @cancel_requested = params["cancelRequested"] == true
    end

    # True when a cancel was requested before this run started; the step being waited on then
    # raises Keel::Cancelled.
    def cancel_requested? = @cancel_requested

    # Runs an activity and returns its output; raises StepFailed (or Cancelled) when it failed.
    # `retry_policy` (RetryPolicy or wire Hash), `timeouts` (wire Hash, e.g.
    # {"startToCloseMs" => 10_000}), `priority` (Integer, -1000..1000, higher first) and
    # `fairness_key` (String) go in the step's `options`, each only when given: a step without
    # them gets the execution's priority and fairness key (docs/protocol.md "Priorities and
    # fairness").
    def activity(name, input = nil, retry_policy: nil, timeouts: nil, priority: nil, fairness_key: nil)
      start_activity(name, input, retry_policy: retry_policy, timeouts: timeouts, priority: priority,
                                  fairness_key: fairness_key).value
    end

    # Starts an activity and returns its Step at once (for parallel activities: start several,
    # then call `value` on each, or `all`). Options as for `activity`.
    def start_activity(name, input = nil, retry_policy: nil, timeouts: nil, priority: nil, fairness_key: nil)
      options = { "retryPolicy" => retry_policy.respond_to?(:to_wire) ? retry_policy.to_wire : retry_policy,
                  "timeouts" => timeouts, "priority" => priority, "fairnessKey" => fairness_key }.compact
      @run.start("activity", name, input, options)
    end

    # Waits for every step; returns their values in order.
    def all(*steps) = steps.flatten.map(&:value)

    # Sleeps durably for `ms` milliseconds (a sleep of days is fine: the run suspends).
    def sleep(ms)
      @run.start("sleep", "sleep", { "durationMs" => Integer(ms) }).value
      nil
    end

    # Waits for signal `name` and returns its payload. With `timeout_ms`, raises Keel::TimedOut
    # when no signal came in time.
    def signal(name, timeout_ms: nil)
      @run.start("signal", name, timeout_ms.nil? ? {} : { "timeoutMs" => Integer(timeout_ms) }).value
    end

    # Waits for update `name` (a client's Client#update_workflow) and returns it as a Keel::Update;
    # answer it with `respond` or `reject`, or the client waits on (docs/protocol.md "Updates"). A
    # signal step named "update:" + name, so `timeout_ms` works as for `signal`: Keel::TimedOut
    # when no update came in time.
    #
    #   u = wf.wait_for_update("approve")
    #   u.input["amount"] > 100 ? wf.reject(u, "over 100") : wf.respond(u, { "approved" => true })
    def wait_for_update(name, timeout_ms: nil)
      raise ArgumentError, "update name must be a String, not #{name.inspect}" unless name.is_a?(String)

      received = signal("update:#{name}", timeout_ms: timeout_ms)
      received = {} unless received.is_a?(Hash)
      Update.new(received["updateId"], name, received["input"])
    end

    # Answers `update` (a Keel::Update or its id) with `result` (any JSON): the client's
    # update_workflow returns status "completed" with it. A durable step (kind "respond", named by
    # the update id, input {"result" => result}), awaited in program order and never sent again on
    # replay. Returns nil.
    def respond(update, result) = answer_update(update, { "result" => result })

    # Rejects `update` (a Keel::Update or its id): the client's update_workflow returns status
    # "rejected" with failure {"type", "message", "details"?} (`details`, any JSON, only when
    # given). The same durable step as `respond`, input {"failure" => ...}. Returns nil.
    #
    #   wf.reject(u, "amount 500 is over 100", details: { "limit" => 100 })
    def reject(update, message, type: "Rejected", details: nil)
      raise ArgumentError, "reject message must be a String, not #{message.inspect}" unless message.is_a?(String)
      raise ArgumentError, "reject type must be a String, not #{type.inspect}" unless type.is_a?(String)

      failure = { "type" => type, "message" => message }
      failure["details"] = details unless details.nil?
      answer_update(update, { "failure" => failure })
    end

    # Runs child workflow `name` and returns its output (`id`: the child's workflowId, optional;
    # Keel's default is PARENT/SEQ). `search_attributes` and `memo` are the child's own, with the
    # same rules as Client#start_workflow's keywords of those names: Keel checks them as
    # workflow/start does and refuses the step with -32602, naming params.input.…, for one out of
    # bounds. Each goes in the step's input (docs/protocol.md, step kind `child`) only when given.
    #
    #   wf.child("orders.ship", order, search_attributes: { "customer" => "acme" }, memo: { "source" => "batch" })
    def child(name, input = nil, id: nil, search_attributes: nil, memo: nil)
      start_child(name, input, id: id, search_attributes: search_attributes, memo: memo).value
    end

    # Starts a child workflow and returns its Step at once. Options as for `child`.
    def start_child(name, input = nil, id: nil, search_attributes: nil, memo: nil)
      step_input = { "input" => input }
      step_input["workflowId"] = id unless id.nil?
      step_input["searchAttributes"] = search_attributes unless search_attributes.nil?
      step_input["memo"] = memo unless memo.nil?
      @run.start("child", name, step_input)
    end

    # The current time as epoch milliseconds, recorded durably (the same on every replay).
    def now = @run.start("now", "now", {}).value

    # A number in [0, 1), recorded durably.
    def random = @run.start("random", "random", {}).value

    # A UUID string, recorded durably.
    def uuid = @run.start("uuid", "uuid", {}).value

    # Publishes `event` (any JSON value) under `name` to this execution's stream, which clients
    # read with Client#follow (docs/protocol.md "Streams"). A durable step: stored once with the
    # journal, never sent again on replay, awaited in program order. Returns nil.
    #
    #   wf.publish({ "pct" => 50 }, name: "progress")
    def publish(event, name: "event")
      raise ArgumentError, "publish name must be a String, not #{name.inspect}" unless name.is_a?(String)

      @run.start("publish", name, { "event" => event }).value
      nil
    end

    # Sets query `name` of this execution to `value` (any JSON value); clients read the latest
    # value with Client#query_workflow, even with no worker connected (docs/protocol.md "Queries
    # and signal-with-start"). A durable step like publish (kind "query", the value under
    # "value"): awaited in program order, stored once with the journal, never sent again on
    # replay. Returns nil.
    #
    #   wf.set_query_value("progress", { "pct" => 50 })
    def set_query_value(name, value)
      raise ArgumentError, "query name must be a String, not #{name.inspect}" unless name.is_a?(String)

      @run.start("query", name, { "value" => value }).value
      nil
    end

    # Merges `attributes` (a Hash) into this execution's search attributes, which
    # Client#list_workflows(query: ...) searches (docs/protocol.md "Search attributes and memo");
    # a nil value removes that key (it is sent as null). Values: Strings, finite numbers or
    # booleans. A durable step (kind "upsert", name "searchAttributes"), awaited in program order
    # and never sent again on replay. Returns the merged attributes.
    #
    #   wf.upsert_search_attributes({ "stage" => "shipped", "vip" => nil })
    def upsert_search_attributes(attributes) = upsert("searchAttributes", attributes)

    # Merges `memo` (a Hash of any JSON) into this execution's memo, which describe shows and no
    # query searches; a nil value removes that key. A durable step like upsert_search_attributes
    # (name "memo"). Returns the merged memo.
    def upsert_memo(memo) = upsert("memo", memo)

    # True when this execution runs the code added under patch `id` (docs/versioning.md): true
    # for an execution that reaches this point running the new code (live, a `patch` marker is
    # recorded), or that recorded the marker here before; false for an execution recorded by the
    # code from before the patch (the journal holds another step at this point; nothing is
    # recorded and the old path's next step takes its place). Asked again with the same id in
    # the same run, it answers the same without recording anything.
    #
    #   if wf.patched?("add-discount")
    #     wf.activity("billing.discount", order)
    #   end
    def patched?(id) = @run.patched(id)

    # Once no execution from before patch `id` is running any more: the new code only. Records
    # the marker like `patched?` (so workers still running the `patched?` code replay this
    # execution down the new path), and in replay takes a recorded marker of that id and leaves
    # any other step alone. Returns nil.
    def deprecate_patch(id)
      @run.patched(id)
      nil
    end

    # Ends this run and starts over with `input` and an empty journal (bounded history for loops).
    # Does not return.
    def continue_as_new(input)
      raise WorkflowSignals::ContinueAsNew, input
    end

    private

    # The `respond` step answering `update` (a Keel::Update or its id) with `input`.
    def answer_update(update, input)
      id = update.is_a?(Update) ? update.id : update
      raise ArgumentError, "update id must be a non-empty String, not #{id.inspect}" unless id.is_a?(String) && !id.empty?

      @run.start("respond", id, input).value
      nil
    end

    # The `upsert` step `name` with `values` as its input, as is: nil values stay, sent as null.
    def upsert(name, values)
      raise ArgumentError, "upsert #{name} takes a Hash, not #{values.inspect}" unless values.is_a?(Hash)

      @run.start("upsert", name, values).value
    end
  end

  # One `workflow/run`: replays the journal, sends new steps as `workflow/step`, and builds the
  # run's answer. Runs in the request's own thread; steps block on their answers.
  class WorkflowRun
    include WorkflowSignals

    def initialize(definition, params, connection, logger: Keel.logger)
      @definition = definition
      @params = params
      @connection = connection
      @logger = logger
      @journal = {}
      Array(params["journal"]).each { |entry| @journal[entry["seq"]] = entry if entry.is_a?(Hash) }
      @mutex = Mutex.new
      @seq = 0
      @suspended = false
      @nondeterminism = nil
      @stopped = nil # the Stopped exception once `stop` was called
      @thread = nil # the thread running the function, while it runs
      @patches = {} # patch id => the answer `patched` gave in this run
      @context = WorkflowContext.new(self, params)
    end

    attr_reader :context

    # Runs the workflow function to its end (or until `stop`); returns the `workflow/run` answer.
    #
    # Raises Keel::Error or ConnectionClosed when the run cannot be answered meaningfully (the
    # connection dropped, Keel answered a step with 2006 attemptSuperseded, or the run was
    # stopped: 2006 too).
    def execute
      answer = nil
      Thread.handle_interrupt(Stopped => :never) do
        @mutex.synchronize { @thread = Thread.current unless @stopped }
        raise @stopped if @stopped

        answer = Thread.handle_interrupt(Stopped => :immediate) { run_function }
      ensure
        @mutex.synchronize { @thread = nil }
      end
      answer
    rescue Stopped => e
      # A stop that arrived as the function ended is delivered here: its answer stands (Keel
      # ignores it anyway); without one, the stop's error is the answer.
      answer || raise(e.error)
    end

    # Stops the run at once (`workflow/cancel`): raises Stopped in its thread, so the function
    # unwinds (its `ensure` blocks run) and no further step is sent. Thread-safe; idempotent.
    def stop(reason)
      @mutex.synchronize do
        next if @stopped

        @stopped = Stopped.new(Error.new(ATTEMPT_SUPERSEDED, "workflow #{@context.workflow_id} ended: #{reason}"))
        @thread&.raise(@stopped)
      end
    end

    private

    # Runs the workflow function to its end; returns the `workflow/run` answer.
    def run_function
      output = @definition.handler.call(@context.input, @context)
      return answer_interrupted if interrupted?

      failure = Keel.unsendable_failure(output, @connection.writer.max_frame_bytes)
      failure ? failed(failure) : { "status" => "completed", "output" => output }
    rescue Abandon => e
      raise e.error
    rescue Suspend, NonDeterminism
      answer_interrupted
    rescue ContinueAsNew => e
      return answer_interrupted if interrupted?

      { "status" => "continueAsNew", "input" => e.input }
    rescue ActivityError => e
      interrupted? ? answer_interrupted : failed(e.to_failure)
    rescue StandardError => e
      return answer_interrupted if interrupted?

      @logger.error("workflow #{@context.name} (#{@context.workflow_id}) failed: #{e.class}: #{e.message}")
      failed({ "type" => e.class.name || "StandardError", "message" => e.message, "retryable" => true, "details" => nil })
    end

    public

    # Starts step `seq` = the next number: answered from the journal when recorded there with the
    # same kind and name, else sent to Keel. Called by WorkflowContext.
    def start(kind, name, input, options = {})
      seq = @mutex.synchronize { @seq += 1 }
      raise @stopped if @stopped
      raise Suspend if @suspended
      raise @nondeterminism if @nondeterminism

      entry = @journal[seq]
      if entry
        check_entry(seq, entry, kind, name)
        recorded = recorded_answer(entry)
        return Step.new(self, seq, kind, name, recorded: recorded) if recorded
      end
      params = { "workflowId" => @context.workflow_id, "runId" => @context.run_id, "seq" => seq,
                 "kind" => kind, "name" => name, "input" => input }
      params["options"] = options unless options.empty?
      # Not interrupted mid-write by a stop: a half-sent line would break the connection.
      pending = Thread.handle_interrupt(Stopped => :never) { @connection.call_async("workflow/step", params) }
      Step.new(self, seq, kind, name, pending: pending)
    rescue ConnectionClosed => e
      raise Abandon, e
    end

    # Answers `patched?(id)` (docs/versioning.md): memoized per run; a recorded `patch` marker of
    # that id at the next seq is taken (true); any other entry there leaves the seq to the next
    # step (false); no entry: the marker is sent as a step of kind `patch` (true once answered).
    # Called by WorkflowContext.
    def patched(id)
      raise ArgumentError, "patch id must be a non-empty String, not #{id.inspect}" unless id.is_a?(String) && !id.empty?

      known = @mutex.synchronize { @patches[id] }
      return known unless known.nil?
      raise @stopped if @stopped
      raise Suspend if @suspended
      raise @nondeterminism if @nondeterminism

      seq = @mutex.synchronize { @seq + 1 }
      entry = @journal[seq]
      answer =
        if entry.nil?
          start("patch", id, {}).value # uses up seq; a failed answer raises like any step's
          true
        elsif entry["kind"] == "patch" && entry["name"] == id
          @mutex.synchronize { @seq = seq }
          true
        else
          false
        end
      @mutex.synchronize { @patches[id] = answer }
    end

    # Waits for a live step's answer (the step answer object). Called by Step.
    # Keel's refusals of what a step asked (bad params, a contract, a child id taken): raised into
    # the workflow code, which may catch them, as every library does. Anything else abandons the run.
    STEP_REFUSALS = [INVALID_PARAMS, INPUT_CONTRACT_VIOLATION, OUTPUT_CONTRACT_VIOLATION, WORKFLOW_ALREADY_EXISTS].freeze

    def await(pending, step)
      pending.value
    rescue Error => e
      raise e if STEP_REFUSALS.include?(e.code)
      raise Abandon, e unless e.code == NON_DETERMINISM

      data = e.data.is_a?(Hash) ? e.data : {}
      @nondeterminism = NonDeterminism.new(data.fetch("seq", step.seq), data["journal"] || {},
                                           data["code"] || { "kind" => step.kind, "name" => step.name })
      raise @nondeterminism
    rescue ConnectionClosed => e
      raise Abandon, e
    end

    # Turns a step answer into the value, or raises. Called by Step.
    def outcome(answer)
      case answer["status"]
      when "completed" then answer["result"]
      when "failed" then raise ActivityError.from_failure(answer["failure"])
      when "suspend"
        @suspended = true
        raise Suspend
      else raise Abandon, Error.new(INTERNAL_ERROR, "unexpected workflow/step answer #{answer.inspect}")
      end
    end

    private

    def check_entry(seq, entry, kind, name)
      return if entry["kind"] == kind && entry["name"] == name

      @nondeterminism = NonDeterminism.new(seq, entry, { "kind" => kind, "name" => name })
      raise @nondeterminism
    end

    # "If the journal already holds seq with the same kind and name, Keel ... answers with the
    # recorded outcome, or waits for the running one": finished entries are answered here,
    # unfinished ones (scheduled, running) are sent again with the same seq.
    def recorded_answer(entry)
      case entry["status"]
      when "completed" then { "status" => "completed", "result" => entry["result"] }
      when "failed" then { "status" => "failed", "failure" => entry["failure"] }
      end
    end

    def interrupted? = @suspended || !@nondeterminism.nil?

    def answer_interrupted
      return failed({ "type" => "NonDeterminism", "message" => @nondeterminism.message, "retryable" => false, "details" => nil }) if @nondeterminism

      { "status" => "suspended" }
    end

    def failed(failure) = { "status" => "failed", "failure" => failure }
  end
end
