# frozen_string_literal: true

require "set"
require_relative "errors"
require_relative "framing"
require_relative "connection"
require_relative "transport"
require_relative "reconnect"
require_relative "timed_queue"
require_relative "activity"
require_relative "workflow"

module Keel
  # Serves activities and workflows to Keel.
  #
  #   worker = Keel::Worker.new("hello-worker")
  #   worker.activity("greet.hello") { |input| { greeting: "Hello, #{input['name']}" } }
  #   worker.run
  #
  # Each `activity/execute` and `workflow/run` runs in its own thread, at most `max_concurrent`
  # activities at once. While disconnected, running activities are cancelled and results that
  # still arrive are dropped: Keel has already re-dispatched those attempts ("A worker that
  # disconnects is removed at once; its in-flight activities are retried elsewhere").
  class Worker
    PROTOCOL_VERSION = "1"
    # "`name` matches ^[A-Za-z_][A-Za-z0-9_.\-]*$" (docs/protocol.md, worker/register).
    NAME_PATTERN = /\A[A-Za-z_][A-Za-z0-9_.\-]*\z/.freeze
    # Bound on the initialize and worker/register round trips.
    HANDSHAKE_TIMEOUT_S = 10.0
    # Errors after which reconnecting cannot help.
    FATAL_CODES = [UNAUTHORIZED, UNSUPPORTED_PROTOCOL_VERSION, CONTRACT_CONFLICT].freeze
    # Requests a drain waits for: counted on arrival, uncounted once their answer is queued, so
    # every result is on the wire before the `shutdown` answer.
    IN_FLIGHT_METHODS = ["activity/execute", "workflow/run"].freeze

    attr_reader :name, :max_concurrent, :worker_id, :build_id, :compatible_build_ids

    # - name: shown by `worker/list` (default: the script name)
    # - max_concurrent: activities run at once (sent as `maxConcurrent`, 1...10000)
    # - max_concurrent_workflows: workflow runs at once (sent when workflows are registered)
    # - socket:, tcp:, token: the transport (see Transport.resolve_all); stdio when KEEL_TRANSPORT=stdio.
    #   socket:/tcp: take one address or an Array tried in order: when the connected node dies the
    #   worker moves to the next one and registers again (docs/clients.md "Several endpoints")
    # - tls: TLS over tcp: true (system trust store) or Keel::TLS.new(ca_file:, cert_file:, key_file:)
    # - reconnect: reconnect with exponential backoff when a socket/TCP connection drops
    # - reconnect_initial:, reconnect_max: the backoff's first bound and cap in seconds (full
    #   jitter; docs/clients.md "Reconnecting")
    # - drain_timeout: seconds a graceful stop waits for running work before cancelling it
    # - handle_signals: `run` traps SIGTERM/SIGINT (first: drain and stop; second: cancel)
    # - build_id: the build of the code this worker runs (default: KEEL_BUILD_ID; empty = none).
    #   An execution is pinned to the build of the worker that first runs it and afterwards runs
    #   only on workers of that build or listing it in compatible_build_ids (docs/versioning.md)
    # - compatible_build_ids: older builds whose executions this worker can continue (its code
    #   replays theirs, e.g. through `patched?`); sent only with a build id
    def initialize(name = nil, max_concurrent: 16, max_concurrent_workflows: 1000, socket: nil, tcp: nil, token: nil,
                   tls: nil, max_frame_bytes: Framing::DEFAULT_MAX_FRAME_BYTES, reconnect: true, drain_timeout: 30.0,
                   handle_signals: true, logger: Keel.logger, reconnect_initial: Reconnect::INITIAL_S,
                   reconnect_max: Reconnect::MAX_S, build_id: nil, compatible_build_ids: [])
      raise ArgumentError, "max_concurrent must be between 1 and 10000" unless (1..10_000).cover?(max_concurrent)
      raise ArgumentError, "build_id must be a String" unless build_id.nil? || build_id.is_a?(String)
      unless compatible_build_ids.is_a?(Array) && compatible_build_ids.all? { |id| id.is_a?(String) && !id.empty? }
        raise ArgumentError, "compatible_build_ids must be an Array of non-empty Strings"
      end

      @name = name || File.basename($PROGRAM_NAME.to_s, ".rb").then { |n| n.empty? ? "ruby-worker" : n }
      @max_concurrent = max_concurrent
      @max_concurrent_workflows = max_concurrent_workflows
      @transport = { socket: socket, tcp: tcp, token: token, tls: tls }
      @max_frame_bytes = max_frame_bytes
      @reconnect = reconnect
      @backoff = Reconnect::Backoff.new(reconnect_initial, reconnect_max)
      @drain_timeout = drain_timeout
      @handle_signals = handle_signals
      build_id = ENV.fetch("KEEL_BUILD_ID", "") if build_id.nil?
      @build_id = build_id.empty? ? nil : build_id
      @compatible_build_ids = compatible_build_ids.dup.freeze
      @logger = logger
      @activities = {}
      @workflows = {}
      @contracts = {}
      @mutex = Mutex.new
      @idle = ConditionVariable.new
      @running = {} # [taskId, attempt] => ActivityContext, [:workflow, workflowId, runId] => WorkflowRun, for cancellation
      @in_flight = 0 # activity/execute and workflow/run requests received and not yet answered
      @slots = Thread::SizedQueue.new(max_concurrent)
      @wake = TimedQueue.new
      @stopping = false
      @draining = false
      @signals = 0
    end

    # Loads contract files; `activity` then takes the contract of the same name. Returns self.
    def load_contracts(directory)
      @contracts.update(Contracts.load(directory))
      self
    end

    # Registers an activity: the block gets (input) or (input, ctx) and returns its output (any
    # JSON value). Raise Keel::ActivityError for a chosen failure; any other StandardError is a
    # retryable failure whose type is the exception's class name.
    #
    # The contract comes from `input:`/`output:` (JSON Schemas as Hashes), else a loaded contract
    # file, else none (`true`). Timeouts are integer milliseconds; `retry_policy` is a RetryPolicy
    # or a wire Hash.
    def activity(name, input: nil, output: nil, description: nil, retry_policy: nil, start_to_close_ms: nil,
                 schedule_to_start_ms: nil, schedule_to_close_ms: nil, heartbeat_ms: nil, &handler)
      check_name(name, @activities, "activity", handler)
      contract = @contracts.fetch(name, {})
      timeouts = { "startToCloseMs" => start_to_close_ms, "scheduleToStartMs" => schedule_to_start_ms,
                   "scheduleToCloseMs" => schedule_to_close_ms, "heartbeatTimeoutMs" => heartbeat_ms }.compact
      policy = retry_policy.respond_to?(:to_wire) ? retry_policy.to_wire : retry_policy
      @activities[name] = Definition.new(
        name: name, handler: handler, input: input.nil? ? contract["input"] : input,
        output: output.nil? ? contract["output"] : output, description: description || contract["description"],
        retry_policy: policy || contract["retryPolicy"], timeouts: timeouts.empty? ? contract["timeouts"] : timeouts
      )
      self
    end

    # Registers a workflow: the block gets (input, wf) with wf a Keel::WorkflowContext, and
    # returns the workflow's output. It must be deterministic: every durable step goes through wf.
    def workflow(name, input: nil, output: nil, description: nil, &handler)
      check_name(name, @workflows, "workflow", handler)
      @workflows[name] = Definition.new(name: name, handler: handler, input: input, output: output,
                                        description: description)
      self
    end

    # The registered activities and workflows by name.
    def activities = @activities.dup
    def workflows = @workflows.dup

    # The `worker/register` params this worker sends.
    def registration
      params = { "name" => name, "language" => "ruby", "maxConcurrent" => max_concurrent,
                 "activities" => @activities.values.map(&:to_wire), "workflows" => @workflows.values.map(&:to_wire) }
      params["maxConcurrentWorkflows"] = @max_concurrent_workflows unless @workflows.empty?
      if @build_id
        params["buildId"] = @build_id
        params["compatibleBuildIds"] = @compatible_build_ids unless @compatible_build_ids.empty?
      end
      params
    end

    # Connects, initializes, registers and serves until stopped (`stop`, SIGTERM/SIGINT, a
    # `shutdown` request, or over stdio the end of stdin). Reconnects socket/TCP connections with
    # full-jitter exponential backoff (reset after each successful initialize), initializing and
    # registering again each time. With several endpoints a failure moves to the next one at once;
    # the backoff is waited once every endpoint has failed in a row. Call once, from the
    # main thread if signals should drain.
    #
    # Raises Keel::Error when Keel refused us for good (unauthorized, protocol version, contract
    # conflict), ArgumentError when no transport is configured.
    def run
      @endpoints = Reconnect::EndpointRing.new(Transport.resolve_all(**@transport))
      previous = install_signals if @handle_signals
      @backoff.reset
      until @stopping
        endpoint = @endpoints.current
        begin
          session(endpoint)
        rescue Error => e
          raise if FATAL_CODES.include?(e.code)

          @logger.warn("Keel refused the connection: #{e.message}")
        rescue SystemCallError, IOError, OpenSSL::SSL::SSLError, Connection::Timeout => e
          @logger.warn("connection to Keel at #{endpoint} failed: #{e.message}")
        end
        break if endpoint.stdio || !@reconnect || @stopping

        unless @endpoints.failed
          @logger.info("failing over from Keel at #{endpoint} to #{@endpoints.current}")
          next
        end
        pause = @backoff.next_wait
        @logger.info(format("reconnecting to Keel in %.2fs", pause))
        @wake.pop(pause)
      end
    ensure
      previous&.each { |signal, handler| Signal.trap(signal, handler) }
    end

    # Starts a graceful stop: refuse new work, let running work finish (up to drain_timeout), send
    # the results, disconnect. Thread-safe; returns at once. Not callable from a trap handler
    # (the installed SIGTERM/SIGINT handlers call it from a new thread).
    def stop
      @draining = true
      @stopping = true
      @wake << :stop
    end

    private

    def check_name(name, table, what, handler)
      raise ArgumentError, "#{what} #{name.inspect} needs a block" if handler.nil?
      raise ArgumentError, "#{what} name #{name.inspect} must match #{NAME_PATTERN.source}" unless NAME_PATTERN.match?(name)
      raise ArgumentError, "#{what} #{name.inspect} is already registered" if table.key?(name)
    end

    def session(endpoint)
      input, output = Transport.open(endpoint)
      connection = Connection.new(input, output, max_frame_bytes: @max_frame_bytes, logger: @logger)
      connection.on_request("activity/execute") { |params| execute(connection, params) }
      connection.on_request("workflow/run") { |params| run_workflow(connection, params) }
      connection.on_notification("activity/cancel") { |params| on_cancel(params) }
      connection.on_notification("workflow/cancel") { |params| on_workflow_cancel(params) }
      connection.on_request("ping") { {} }
      connection.on_request("shutdown") { on_shutdown }
      # The orchestrator sends `shutdown` to a spawned worker as a notification, then closes
      # stdin: refuse new work and drain (the session drains once woken).
      connection.on_notification("shutdown") { stop }
      connection.on_receive { |method, _params| on_receive(method) }
      connection.on_answered { |method| finished if IN_FLIGHT_METHODS.include?(method) }
      connection.on_close { @wake << :closed }
      connection.start
      begin
        handshake(connection, endpoint)
        @wake.pop until @stopping || connection.closed?
        if connection.closed? && endpoint.stdio
          # Keel's teardown closes our stdin, then waits: finish running work and send the
          # results (stdout is still open), then exit. A second SIGTERM cancels.
          @logger.info("stdin closed: draining")
          drain
        elsif connection.closed?
          @logger.warn("connection to Keel at #{endpoint} closed")
          cancel_running("connection to Keel lost")
        else
          drain
        end
        true
      ensure
        connection.close
      end
    end

    def handshake(connection, endpoint)
      params = { "protocolVersion" => PROTOCOL_VERSION, "clientInfo" => { "name" => "keel-ruby", "version" => VERSION } }
      params["token"] = endpoint.token if endpoint.token
      result = connection.call("initialize", params, timeout: HANDSHAKE_TIMEOUT_S)
      unless result.is_a?(Hash) && result["protocolVersion"] == PROTOCOL_VERSION
        raise Error.new(UNSUPPORTED_PROTOCOL_VERSION, "Keel answered initialize with #{result.inspect}; this client speaks version 1")
      end

      @backoff.reset # Keel is back: a drop from here on starts the backoff over
      @endpoints&.succeeded
      limit = (result["capabilities"] || {})["maxMessageBytes"]
      connection.writer.max_frame_bytes = limit if limit.is_a?(Integer) && limit.positive?
      registered = connection.call("worker/register", registration, timeout: HANDSHAKE_TIMEOUT_S)
      @worker_id = registered["workerId"] if registered.is_a?(Hash)
      @logger.info("registered with Keel at #{endpoint} as #{@worker_id} " \
                   "(#{@activities.size} activities, #{@workflows.size} workflows)")
    end

    def drain
      @draining = true
      deadline = monotonic + @drain_timeout
      @mutex.synchronize do
        @idle.wait(@mutex, deadline - monotonic) until @in_flight.zero? || monotonic >= deadline
      end
      return if @mutex.synchronize { @in_flight.zero? }

      @logger.warn("drain timed out after #{@drain_timeout}s; cancelling running activities")
      cancel_running("worker shutting down")
    end

    def on_shutdown
      # Drain first, so every result is sent before this answer; Connection#close waits (bounded)
      # for this handler's answer to be written before it closes the stream.
      @draining = true
      drain
      stop
      {}
    end

    # On the reader thread, in arrival order: work received before `shutdown` is drained; work
    # received after it is refused.
    def on_receive(method)
      case method
      when "shutdown" then @draining = true
      when *IN_FLIGHT_METHODS
        raise Error.new(SHUTTING_DOWN, "worker is shutting down; dispatch the work elsewhere") if @draining

        @mutex.synchronize { @in_flight += 1 }
      end
    end

    def finished
      @mutex.synchronize do
        @in_flight -= 1
        @idle.broadcast if @in_flight.zero?
      end
    end

    def on_cancel(params)
      task_id = params["taskId"]
      attempt = params["attempt"]
      @mutex.synchronize { @running.to_a }.each do |(id, running_attempt), ctx|
        next unless ctx.is_a?(ActivityContext) && id == task_id && (attempt.nil? || attempt == running_attempt)

        ctx.cancel!(params["reason"]&.to_s || "cancelled")
      end
    end

    # Keel ended the execution (terminated, timed out) while its run is live here: stop the run
    # at once; Keel ignores its answer and refuses its later steps (2006).
    def on_workflow_cancel(params)
      run = @mutex.synchronize { @running[[:workflow, params["workflowId"], params["runId"]]] }
      run&.stop(params["reason"]&.to_s || "the workflow ended")
    end

    def on_signal
      @signals += 1
      if @signals == 1
        @logger.info("signal: draining (send again to cancel running activities)")
        stop
      else
        cancel_running("worker killed")
      end
    end

    def install_signals
      %w[TERM INT].each_with_object({}) do |signal, previous|
        # Trap context may not take locks: hand the work to a new thread.
        previous[signal] = Signal.trap(signal) { Thread.new { on_signal } }
      rescue ArgumentError
        next # not supported here
      end
    end

    def cancel_running(reason)
      @mutex.synchronize { @running.values }.each { |ctx| ctx.cancel!(reason) if ctx.is_a?(ActivityContext) }
    end

    def track(key, value)
      @mutex.synchronize { @running[key] = value }
      yield
    ensure
      @mutex.synchronize { @running.delete(key) if @running[key].equal?(value) }
    end

    def execute(connection, params)
      definition = @activities[params["name"].to_s]
      if definition.nil?
        return { "failure" => { "type" => "ActivityNotRegistered", "retryable" => true, "details" => nil,
                                "message" => "this worker does not serve activity #{params['name'].inspect}" } }
      end

      ctx = ActivityContext.new(params, connection, logger: @logger)
      track([ctx.task_id, ctx.attempt], ctx) { with_slot { invoke(definition, ctx) } }
    end

    def with_slot
      @slots << true
      yield
    ensure
      @slots.pop
    end

    def invoke(definition, ctx)
      Thread.current[:keel_activity_context] = ctx
      output = definition.invoke(ctx.input, ctx)
      failure = Keel.unsendable_failure(output, ctx_limit(ctx))
      failure ? { "failure" => failure } : { "output" => output }
    rescue Cancelled => e
      # "The handler should stop; its answer to activity/execute is then ignored."
      { "failure" => { "type" => "Cancelled", "message" => ctx.cancel_reason || e.message, "retryable" => false, "details" => nil } }
    rescue ActivityError => e
      { "failure" => e.to_failure }
    rescue StandardError => e
      @logger.error("activity #{ctx.name} (task #{ctx.task_id}, attempt #{ctx.attempt}) failed: #{e.class}: #{e.message}")
      { "failure" => { "type" => e.class.name || "StandardError", "message" => e.message, "retryable" => true, "details" => nil } }
    ensure
      Thread.current[:keel_activity_context] = nil
    end

    def run_workflow(connection, params)
      definition = @workflows[params["name"].to_s]
      raise Error.new(METHOD_NOT_FOUND, "this worker does not serve workflow #{params['name'].inspect}") if definition.nil?

      run = WorkflowRun.new(definition, params, connection, logger: @logger)
      track([:workflow, params["workflowId"], params["runId"]], run) { run.execute }
    end

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def ctx_limit(ctx) = ctx.connection.writer.max_frame_bytes || @max_frame_bytes
  end

  # nil if `output` can be sent, else the failure to send instead (not retryable: the same code
  # would produce the same output).
  def self.unsendable_failure(output, limit)
    size = JSON.generate(output).bytesize
    return nil if limit.nil? || size <= limit - 1024 # room for the envelope

    { "type" => "OutputTooLarge", "message" => FrameTooLarge.new(limit, size).message, "retryable" => false,
      "details" => { "bytes" => size, "limit" => limit } }
  rescue JSON::GeneratorError, EncodingError, NoMethodError => e
    { "type" => "OutputNotSerializable", "message" => "output is not JSON: #{e.message}", "retryable" => false, "details" => nil }
  end
end
