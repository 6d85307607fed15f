# frozen_string_literal: true

require "json"
require_relative "errors"

module Keel
  # How Keel retries a failed attempt. Unset fields take Keel's defaults (only set ones are sent).
  # `maximum_attempts: 0` means unlimited. Durations are integer milliseconds.
  RetryPolicy = Struct.new(:initial_interval_ms, :backoff_coefficient, :maximum_interval_ms,
                           :maximum_attempts, :non_retryable_error_types, keyword_init: true) do
    # The wire object (lowerCamelCase, unset fields omitted).
    def to_wire
      {
        "initialIntervalMs" => initial_interval_ms, "backoffCoefficient" => backoff_coefficient&.to_f,
        "maximumIntervalMs" => maximum_interval_ms, "maximumAttempts" => maximum_attempts,
        "nonRetryableErrorTypes" => non_retryable_error_types&.map(&:to_s)
      }.compact
    end
  end

  # What an activity knows about its attempt; the handler's second argument, also
  # `Keel.activity_context` inside the handler's thread.
  #
  # Cancellation (an `activity/cancel` notification, a heartbeat answered `cancelled: true` or
  # 2006 attemptSuperseded, a lost connection) sets `cancelled?`; the next `heartbeat` or `sleep`
  # raises Keel::Cancelled. Long loops that never heartbeat should poll `cancelled?`.
  class ActivityContext
    # Bound on one heartbeat round trip; a heartbeat that times out is logged and work goes on.
    HEARTBEAT_CALL_TIMEOUT_S = 10.0
    # Bound on one publish round trip; a publish that times out raises Connection::Timeout.
    PUBLISH_CALL_TIMEOUT_S = 10.0

    attr_reader :task_id, :name, :attempt, :idempotency_key, :deadline_ms, :heartbeat_timeout_ms,
                :heartbeat_details, :workflow_id, :input, :cancel_reason, :connection, :attempt_token

    def initialize(params, connection, logger: Keel.logger)
      @task_id = params["taskId"].to_s
      @name = params["name"].to_s
      @attempt = params.fetch("attempt", 1)
      @idempotency_key = params["idempotencyKey"]
      @deadline_ms = params["deadlineMs"]
      @heartbeat_timeout_ms = params["heartbeatTimeoutMs"]
      @heartbeat_details = params["heartbeatDetails"]
      @workflow_id = params["workflowId"]
      @input = params["input"]
      @attempt_token = params["attemptToken"]
      @connection = connection
      @logger = logger
      @mutex = Mutex.new
      @changed = ConditionVariable.new
      @cancelled = false
    end

    # True once Keel cancelled this attempt.
    def cancelled?
      @cancelled
    end

    # Sends `activity/heartbeat`: resets the heartbeat timeout and stores `details` (any JSON
    # value) for the next attempt. Blocks until answered (at most HEARTBEAT_CALL_TIMEOUT_S).
    #
    # Raises Keel::Cancelled when the attempt was cancelled or superseded, or the connection is
    # gone: clean up and let it propagate (or return).
    def heartbeat(details = nil)
      raise Cancelled, cancel_reason if cancelled?

      params = { "taskId" => task_id, "attempt" => attempt, "details" => details }
      begin
        result = @connection.call("activity/heartbeat", params, timeout: HEARTBEAT_CALL_TIMEOUT_S)
      rescue Error => e
        unless e.code == ATTEMPT_SUPERSEDED
          @logger.warn("heartbeat for #{task_id} failed: #{e.message}")
          return nil
        end
        cancel!("attempt superseded: #{e.message}")
      rescue ConnectionClosed
        cancel!("connection to Keel lost")
      rescue Connection::Timeout
        @logger.warn("heartbeat for #{task_id} got no answer within #{HEARTBEAT_CALL_TIMEOUT_S}s")
        return nil
      end
      cancel!("cancelled (heartbeat answer)") if result.is_a?(Hash) && result["cancelled"] == true
      raise Cancelled, cancel_reason if cancelled?

      nil
    end

    # Publishes `event` (any JSON value) under `name` to the stream of the workflow execution
    # this activity runs for (docs/protocol.md "Streams"): sends `activity/publish` and blocks
    # until Keel stored it, so events are published in call order. Returns nil.
    #
    # Raises Keel::Error when Keel refused it (2006 attemptSuperseded: this attempt ended; -32602
    # for an activity called directly with activity/call, which has no stream), ConnectionClosed
    # when the connection is gone, Connection::Timeout past PUBLISH_CALL_TIMEOUT_S.
    def publish(event, name: "event")
      raise ArgumentError, "publish name must be a String, not #{name.inspect}" unless name.is_a?(String)

      params = { "taskId" => task_id, "attempt" => attempt, "name" => name, "event" => event }
      params["attemptToken"] = attempt_token unless attempt_token.nil?
      @connection.call("activity/publish", params, timeout: PUBLISH_CALL_TIMEOUT_S)
      nil
    end

    # Sleeps `seconds`, waking early on cancellation. Raises Keel::Cancelled if cancelled.
    def sleep(seconds)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
      @mutex.synchronize do
        until @cancelled
          left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          break if left <= 0

          @changed.wait(@mutex, left)
        end
      end
      raise Cancelled, cancel_reason if cancelled?

      nil
    end

    # Marks the attempt cancelled (called by the worker). Idempotent; thread-safe; wakes `sleep`.
    def cancel!(reason)
      @mutex.synchronize do
        return if @cancelled

        @cancel_reason = reason
        @cancelled = true
        @changed.broadcast
      end
    end
  end

  # Returns the ActivityContext of the activity running in this thread, or nil.
  def self.activity_context
    Thread.current[:keel_activity_context]
  end

  # One registered activity or workflow: its handler and contract.
  Definition = Struct.new(:name, :handler, :input, :output, :description, :retry_policy, :timeouts,
                          keyword_init: true) do
    # The entry for `worker/register` (unset fields omitted: "Omitted = true" for schemas).
    def to_wire
      { "name" => name, "description" => description, "input" => input, "output" => output,
        "retryPolicy" => retry_policy, "timeouts" => timeouts }.compact
    end

    # Calls an activity handler with (input) or (input, ctx), as its parameters ask.
    def invoke(input, ctx)
      wants_ctx = handler.parameters.count { |kind, _| %i[req opt].include?(kind) } >= 2 ||
                  handler.parameters.any? { |kind, _| kind == :rest }
      wants_ctx ? handler.call(input, ctx) : handler.call(input)
    end
  end

  # Contract files: `*.json`, each `{name, version, input, output, description?, retryPolicy?,
  # timeouts?}`.
  module Contracts
    # Reads every contract in `directory`; returns {name => contract}.
    #
    # Raises ArgumentError when a file is not a contract or two files name the same activity.
    def self.load(directory)
      Dir.glob(File.join(directory, "*.json")).sort.each_with_object({}) do |path, contracts|
        contract = JSON.parse(File.read(path, encoding: "UTF-8"))
        raise ArgumentError, "#{path}: a contract is an object with a string \"name\"" unless contract.is_a?(Hash) && contract["name"].is_a?(String)

        missing = %w[version input output].reject { |key| contract.key?(key) }
        raise ArgumentError, "#{path}: contract #{contract['name'].inspect} lacks #{missing.join(', ')}" unless missing.empty?
        raise ArgumentError, "#{path}: a second contract for #{contract['name'].inspect}" if contracts.key?(contract["name"])

        contracts[contract["name"]] = contract
      end
    end
  end
end
