# frozen_string_literal: true

module Keel
  # Reconnect rules shared by Client and Worker (docs/clients.md "Reconnecting").
  module Reconnect
    # First wait bound (s): a restarted `keel serve` binds its socket in well under a second.
    INITIAL_S = 0.1
    # Cap on one wait (s): a worker is back at most ~2 s after Keel is (a 10 s cap kept it away 5-10 s).
    MAX_S = 2.0
    # Reads: repeating them changes nothing in Keel.
    READS = %w[ping activity/result workflow/result workflow/describe workflow/history workflow/list worker/list].freeze

    # Full-jitter exponential backoff: wait rand(0..min(max, initial * 2**n)), n = failed attempts
    # since the last `reset` (call it after a successful initialize). Not thread-safe.
    class Backoff
      attr_reader :initial, :maximum

      def initialize(initial = INITIAL_S, maximum = MAX_S)
        raise ArgumentError, "reconnect backoff needs 0 < initial <= max" unless initial.positive? && maximum >= initial

        @initial = initial
        @maximum = maximum
        @failures = 0
      end

      # Starts over from `initial`: the last attempt succeeded.
      def reset
        @failures = 0
      end

      # The next wait in seconds; counts one more failed attempt.
      def next_wait
        bound = [maximum, initial * (2**[@failures, 30].min)].min
        @failures += 1
        rand * bound
      end
    end

    # True when a call whose connection dropped before its answer may be sent again: a read, an
    # `activity/call` with an idempotency key, or a `workflow/start` with a workflow id that does
    # not ask to fail on conflict.
    def self.safe_to_repeat?(method, params)
      return true if READS.include?(method)
      return !params["idempotencyKey"].nil? if method == "activity/call"
      return !params["workflowId"].nil? && params["conflictPolicy"] != "fail" if method == "workflow/start"

      false
    end
  end
end
