# frozen_string_literal: true

module Keel
  # JSON-RPC 2.0 spec codes.
  PARSE_ERROR = -32_700
  INVALID_REQUEST = -32_600
  METHOD_NOT_FOUND = -32_601
  INVALID_PARAMS = -32_602
  INTERNAL_ERROR = -32_603
  # Protocol and transport state (docs/protocol.md).
  NOT_INITIALIZED = -32_000
  UNSUPPORTED_PROTOCOL_VERSION = -32_001
  MESSAGE_TOO_LARGE = -32_002
  # Not in docs/protocol.md yet: STYLE §4 lists "shutting down" in the -32000 range, and the
  # Python client uses -32003 to refuse new work while draining. Same code here.
  SHUTTING_DOWN = -32_003
  UNAUTHORIZED = -32_004
  # Domain errors (1xxx workflow/run, 2xxx step, 3xxx schema, 4xxx storage/conflict).
  WORKFLOW_NOT_FOUND = 1001
  NON_DETERMINISM = 1003
  INVALID_QUERY = 1013
  SCHEDULE_NOT_FOUND = 1020
  SCHEDULE_ALREADY_EXISTS = 1021
  # workflow/query for a name the workflow never set; data {workflowId, name, known: [names]}.
  QUERY_NOT_FOUND = 1030
  # workflow/update whose workflow ended without answering it; data {workflowId, updateId, status}.
  UPDATE_UNANSWERED = 1031
  CONTRACT_CONFLICT = 2005
  ATTEMPT_SUPERSEDED = 2006
  INPUT_CONTRACT_VIOLATION = 3001
  OUTPUT_CONTRACT_VIOLATION = 3002
  WORKFLOW_ALREADY_EXISTS = 1002
  IDEMPOTENCY_CONFLICT = 4002

  # A JSON-RPC error object received from (or sent to) the peer.
  #
  # - code: the stable integer code (docs/errors.md)
  # - data: the wire `error.data`, shaped per code, or nil
  class Error < StandardError
    attr_reader :code, :data

    def initialize(code, message, data = nil)
      super(message)
      @code = code
      @data = data
    end

    # The wire error object `{code, message, data?}`.
    def to_wire
      wire = { "code" => code, "message" => message }
      wire["data"] = data unless data.nil?
      wire
    end

    # Builds an Error from a wire error object, tolerating malformed ones.
    def self.from_wire(error)
      return new(INTERNAL_ERROR, "malformed error object: #{error.inspect}") unless error.is_a?(Hash)

      code = error["code"].is_a?(Integer) ? error["code"] : INTERNAL_ERROR
      new(code, error["message"].to_s, error["data"])
    end

    def inspect = "#<#{self.class.name} #{code}: #{message}>"
  end

  # The connection to Keel closed. Local only, never sent on the wire.
  class ConnectionClosed < IOError; end

  # The connection to Keel dropped while this call was in flight and the call is not safe to
  # repeat (no idempotency key, not a read): it may or may not have taken effect. Local only.
  # Repeat it with an idempotency key, or check Keel's state first (docs/clients.md "Reconnecting").
  class ConnectionLost < ConnectionClosed
    # The JSON-RPC method of the call whose outcome is unknown.
    attr_reader :method_name

    def initialize(method_name, reason)
      super("connection to Keel lost during #{method_name}; outcome unknown (#{reason})")
      @method_name = method_name
    end
  end

  # A frame exceeded the size limit. When reading, the line was discarded and the stream is usable.
  class FrameTooLarge < StandardError
    attr_reader :limit, :size

    def initialize(limit, size = nil)
      @limit = limit
      @size = size
      super("#{size ? "#{size}-byte" : 'a'} message exceeds the #{limit}-byte frame limit")
    end
  end

  # A frame was not valid UTF-8. It was dropped; the stream is usable.
  class InvalidFrame < StandardError; end

  # Raise from an activity (or a workflow) to report a failure with a chosen type, retryability
  # and details. A failure is data, not a JSON-RPC error: the worker answers with
  # `{"failure": {type, message, retryable, retryAfterMs?, details}}`.
  #
  # - type: matched against the retry policy's nonRetryableErrorTypes; default the class name
  # - retryable: false ends the task as failed
  # - retry_after_ms: minimum delay before the next attempt, integer milliseconds
  # - details: any JSON value, stored with the failure
  class ActivityError < StandardError
    attr_reader :type, :retryable, :retry_after_ms, :details

    def initialize(message, type: nil, retryable: true, retry_after_ms: nil, details: nil)
      super(message)
      @type = type || self.class.name
      @retryable = retryable
      @retry_after_ms = retry_after_ms&.round
      @details = details
    end

    # The wire failure object.
    def to_failure
      failure = { "type" => type, "message" => message, "retryable" => retryable }
      failure["retryAfterMs"] = retry_after_ms unless retry_after_ms.nil?
      failure["details"] = details
      failure
    end

    # Builds the exception a workflow sees for a failed step: Cancelled, TimedOut, or StepFailed.
    def self.from_failure(failure)
      failure = {} unless failure.is_a?(Hash)
      klass = { "Cancelled" => Cancelled, "TimedOut" => TimedOut }.fetch(failure["type"], StepFailed)
      klass.new(failure["message"].to_s, type: failure["type"] || "StepFailed",
                                         retryable: failure.fetch("retryable", true),
                                         retry_after_ms: failure["retryAfterMs"], details: failure["details"])
    end
  end

  # A workflow step (activity, child) failed; raised in the workflow with the step's failure.
  class StepFailed < ActivityError; end

  # The activity attempt or the workflow was cancelled. Activities see it at their next heartbeat;
  # workflows see it at the step they wait on, and may rescue it to run compensations.
  class Cancelled < StepFailed
    def initialize(message = "cancelled", type: "Cancelled", retryable: false, retry_after_ms: nil, details: nil)
      super
    end
  end

  # A signal wait with a timeout timed out.
  class TimedOut < StepFailed
    def initialize(message = "timed out", type: "TimedOut", retryable: false, retry_after_ms: nil, details: nil)
      super
    end
  end

  # The workflow code does not match its journal. Not a StandardError, so `rescue => e` in
  # workflow code cannot swallow it; the run is answered failed with type "NonDeterminism".
  class NonDeterminism < Exception # rubocop:disable Lint/InheritException
    def initialize(seq, journal, code)
      super("non-determinism at seq #{seq}: the journal has #{journal['kind']} #{journal['name'].inspect}, " \
            "the code asked for #{code['kind']} #{code['name'].inspect}")
    end
  end
end
