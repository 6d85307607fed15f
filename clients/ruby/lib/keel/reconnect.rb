# frozen_string_literal: true

module Keel
  # Reconnect rules shared by Client and Worker (docs/clients.md "Reconnecting").
  module Reconnect
    # First wait bound (s): a restarted `keel serve` binds its socket in well under a second.
    INITIAL_S = 0.1
    # Cap on one wait (s): a worker is back at most ~2 s after Keel is (a 10 s cap kept it away 5-10 s).
    MAX_S = 2.0
    # Reads: repeating them changes nothing in Keel.
    READS = %w[ping activity/result workflow/result workflow/describe workflow/history workflow/list workflow/follow
               workflow/query worker/list schedule/describe schedule/list].freeze

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

    # Several endpoints tried in order (docs/clients.md "Several endpoints"). `current` is where to
    # connect next; after a failed attempt or a dropped connection, `failed` moves to the next one
    # (wrapping around) and returns true only when every endpoint has failed once since the last
    # success or pause: only then does the caller wait its backoff. With one endpoint every
    # failure waits, as before. Not thread-safe.
    class EndpointRing
      attr_reader :endpoints

      def initialize(endpoints)
        raise ArgumentError, "at least one endpoint is needed" if endpoints.empty?

        @endpoints = endpoints.dup
        @index = 0
        @failures = 0
      end

      def current = @endpoints[@index]

      # The current endpoint initialized: a later failure starts a new round from it.
      def succeeded
        @failures = 0
      end

      # Moves to the next endpoint; true when a whole round failed (then wait the backoff).
      def failed
        @index = (@index + 1) % @endpoints.size
        @failures += 1
        return false if @failures < @endpoints.size

        @failures = 0
        true
      end
    end

    # True when a call whose connection dropped before its answer may be sent again: a read, an
    # `activity/call` with an idempotency key, a `workflow/signal` with a request id (Keel answers
    # a repeat `duplicate: true` and delivers nothing), a `workflow/update` with an update id (a
    # repeat waits for the same update and delivers nothing), or a `workflow/start` with a workflow id
    # that does not ask to fail on conflict (and, with a `signal` (signal-with-start), whose
    # signal has a request id: the repeat finds the execution open and delivers nothing again).
    def self.safe_to_repeat?(method, params)
      return true if READS.include?(method)
      return !params["idempotencyKey"].nil? if method == "activity/call"
      return !params["requestId"].nil? if method == "workflow/signal"
      return !params["updateId"].nil? if method == "workflow/update"
      return start_safe_to_repeat?(params) if method == "workflow/start"

      false
    end

    def self.start_safe_to_repeat?(params)
      return false if params["workflowId"].nil? || params["conflictPolicy"] == "fail"

      signal = params["signal"]
      signal.nil? || (signal.is_a?(Hash) && !signal["requestId"].nil?)
    end
    private_class_method :start_safe_to_repeat?
  end
end
