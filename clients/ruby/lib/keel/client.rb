# frozen_string_literal: true

require "securerandom"
require_relative "errors"
require_relative "framing"
require_relative "connection"
require_relative "transport"
require_relative "reconnect"

module Keel
  # A connection to Keel for starting workflows and activities and inspecting them. Results are
  # the wire objects (Hashes with lowerCamelCase String keys), as docs/protocol.md shows them.
  #
  #   Keel::Client.open(socket: "/tmp/keel.sock") do |client|
  #     started = client.start_workflow("orders.fulfil", { "order" => 17 })
  #     client.workflow_result(started["workflowId"])  # => {"status" => "completed", "output" => ...}
  #   end
  #
  # Thread-safe: several threads may call at once over the one connection. When Keel restarts, the
  # next call reconnects; a call in flight at the drop is sent again when that is safe (a read, or
  # keyed), else it raises Keel::ConnectionLost (docs/clients.md "Reconnecting").
  class Client
    # Bound on requests that return at once (initialize, start, signal, cancel, describe...).
    CALL_TIMEOUT_S = 10.0
    # Slack added to a server-side wait before the local call gives up.
    WAIT_SLACK_S = 5.0
    # Keel's default waitTimeoutMs for workflow/result (docs/protocol.md).
    DEFAULT_WORKFLOW_WAIT_MS = 60_000
    # Keel's default waitTimeoutMs for workflow/update (docs/protocol.md "Updates").
    DEFAULT_UPDATE_WAIT_MS = 60_000
    # The long poll of one `follow` page (Keel allows up to 300 000).
    FOLLOW_WAIT_MS = 30_000

    # How long one call keeps reconnecting to an unreachable Keel before it raises.
    RECONNECT_TIMEOUT_S = 30.0
    # Refusals that reconnecting cannot change.
    FATAL_CODES = [UNAUTHORIZED, UNSUPPORTED_PROTOCOL_VERSION].freeze

    # Connects (`socket:`/KEEL_SOCKET, or `tcp:` + `token:`/KEEL_TCP + KEEL_TOKEN) and initializes.
    # `reconnect_initial:`/`reconnect_max:` (0.1/2.0 s) and `reconnect_timeout:` (30 s) shape later
    # reconnects (docs/clients.md "Reconnecting"). `tls: true` or `tls: Keel::TLS.new(ca_file: ...)`
    # speaks TLS over `tcp:` (docs/security.md "TLS"). `socket:`/`tcp:` (and KEEL_SOCKET/KEEL_TCP,
    # comma-separated) may list several endpoints: the first reachable one in order is used, and a
    # reconnect goes on from the next (docs/clients.md "Several endpoints").
    #
    # Raises SystemCallError when Keel is unreachable (with several endpoints, Errno::ECONNREFUSED
    # naming each one and why), OpenSSL::SSL::SSLError when its certificate is not trusted,
    # Keel::Error when it refused us.
    def self.connect(socket: nil, tcp: nil, token: nil, tls: nil, max_frame_bytes: Framing::DEFAULT_MAX_FRAME_BYTES,
                     reconnect_initial: Reconnect::INITIAL_S, reconnect_max: Reconnect::MAX_S,
                     reconnect_timeout: RECONNECT_TIMEOUT_S)
      endpoints = Transport.resolve_all(socket: socket, tcp: tcp, token: token, tls: tls, allow_stdio: false)
      failures = []
      endpoints.each_with_index do |endpoint, index|
        connection = open_connection(endpoint, max_frame_bytes)
        return new(connection, endpoints: endpoints.rotate(index), max_frame_bytes: max_frame_bytes,
                               backoff: Reconnect::Backoff.new(reconnect_initial, reconnect_max),
                               reconnect_timeout: reconnect_timeout)
      rescue Error, SystemCallError, IOError, OpenSSL::SSL::SSLError, Connection::Timeout => e
        raise if endpoints.size == 1 || (e.is_a?(Error) && FATAL_CODES.include?(e.code))

        failures << "#{endpoint}: #{e.message}"
      end
      raise Errno::ECONNREFUSED, "no Keel endpoint is reachable: #{failures.join('; ')}"
    end

    # Opens a connection and runs initialize on it; closes it again on failure.
    def self.open_connection(endpoint, max_frame_bytes)
      input, output = Transport.open(endpoint)
      connection = Connection.new(input, output, max_frame_bytes: max_frame_bytes).start
      params = { "protocolVersion" => "1", "clientInfo" => { "name" => "keel-ruby", "version" => VERSION } }
      params["token"] = endpoint.token if endpoint.token
      begin
        result = connection.call("initialize", params, timeout: CALL_TIMEOUT_S)
        raise Error.new(UNSUPPORTED_PROTOCOL_VERSION, "Keel answered initialize with #{result.inspect}") unless result.is_a?(Hash) && result["protocolVersion"] == "1"
      rescue StandardError
        connection.close
        raise
      end
      connection
    end
    private_class_method :open_connection

    # `connect`, yield, close.
    def self.open(**options)
      client = connect(**options)
      return client unless block_given?

      begin
        yield client
      ensure
        client.close
      end
    end

    # Wraps an initialized `connection` (to the first of `endpoints:`, or to `endpoint:`); without
    # either it never reconnects.
    def initialize(connection, endpoint: nil, endpoints: nil, max_frame_bytes: Framing::DEFAULT_MAX_FRAME_BYTES,
                   backoff: Reconnect::Backoff.new, reconnect_timeout: RECONNECT_TIMEOUT_S)
      @connection = connection
      listed = endpoints || [endpoint].compact
      @endpoints = listed.empty? ? nil : Reconnect::EndpointRing.new(listed)
      @max_frame_bytes = max_frame_bytes
      @backoff = backoff
      @reconnect_timeout = reconnect_timeout
      @lock = Mutex.new # guards @connection and @backoff; held while reconnecting
      @closed = false
    end

    # Closes the connection; later calls raise ConnectionClosed.
    def close
      @closed = true
      @connection.close
    end

    # `workflow/start` → {"workflowId", "status", "started"}. `conflict_policy`: "useExisting"
    # (Keel's default) or "fail". `priority` (Integer, -1000..1000, higher first; Keel's default 0)
    # and `fairness_key` (String, 1-256 chars) go to every activity step of the execution and its
    # children that sets none of its own (docs/protocol.md "Priorities and fairness"); each is
    # sent only when given.
    #
    # `search_attributes` (Hash, at most 32 keys, each a name like `customer` that is not a
    # built-in one; values Strings, finite numbers or booleans, RFC 3339 Strings also indexed as
    # times) are indexed for `list_workflows(query: ...)`; `memo` (Hash, any JSON, at most 32 KiB)
    # is kept unindexed. `describe_workflow` shows both; workflow code changes them with
    # WorkflowContext#upsert_search_attributes / #upsert_memo (docs/protocol.md "Search attributes
    # and memo"). Each is sent only when given; Keel answers -32602 for one out of bounds.
    def start_workflow(name, input = nil, workflow_id: nil, conflict_policy: nil, priority: nil, fairness_key: nil,
                       search_attributes: nil, memo: nil)
      call("workflow/start", start_params(name, input, workflow_id: workflow_id, conflict_policy: conflict_policy,
                                                       priority: priority, fairness_key: fairness_key,
                                                       search_attributes: search_attributes, memo: memo))
    end

    # Signal-with-start (`workflow/start` with a `signal`, docs/protocol.md "Queries and
    # signal-with-start"): signals workflow `workflow_id:` with `signal_name` and `payload`,
    # starting it first (`name`, `input`) when no execution has that id. Keel does both in one
    # transaction: a new execution's first `wf.signal(signal_name)` receives the payload. An open
    # execution with the id gets the signal (`"started" => false`); one that has ended raises
    # Keel::Error WORKFLOW_NOT_FOUND (1001), as signal_workflow does.
    # → the start result plus {"signal" => {"delivered" => true, "duplicate" => bool}}.
    #
    #   client.signal_with_start("orders.fulfil", { "order" => 17 }, "item_added", { "sku" => "A-1" },
    #                            workflow_id: "order-17")
    #
    # `start_options` are start_workflow's keywords (workflow_id:, conflict_policy:, priority:,
    # fairness_key:, search_attributes:, memo:). Give `workflow_id:`: it is how the next call finds
    # the same execution (without one Keel generates an id and always starts). `request_id:`
    # deduplicates the signal exactly as in signal_workflow: a fresh random UUID by default, so a
    # call in flight when the connection drops is sent again after the reconnect and delivered
    # once; `request_id: nil` sends none (such a call raises Keel::ConnectionLost at a drop).
    def signal_with_start(name, input, signal_name, payload = nil, request_id: SecureRandom.uuid, **start_options)
      params = start_params(name, input, **start_options)
      params["signal"] = { "name" => signal_name, "payload" => payload }
      params["signal"]["requestId"] = request_id unless request_id.nil?
      call("workflow/start", params)
    end

    # `workflow/query`: the latest value execution `workflow_id` set for query `name` with
    # WorkflowContext#set_query_value (docs/protocol.md "Queries and signal-with-start"). Keel
    # answers from what it stored, so this works with no worker connected and after the
    # execution ended. A read: sent again after a reconnect.
    #
    #   client.query_workflow("order-17", "progress")  # => {"pct" => 50}
    #
    # Raises Keel::Error QUERY_NOT_FOUND (1030) for a name the workflow never set (`data`
    # {"workflowId", "name", "known" => [the names it did set]}), WORKFLOW_NOT_FOUND (1001) for
    # an unknown workflow id.
    def query_workflow(workflow_id, name)
      call("workflow/query", { "workflowId" => workflow_id, "name" => name })["value"]
    end

    # `workflow/update`: sends update `name` with `input` (any JSON, nil as null) into execution
    # `workflow_id`, whose code receives it with WorkflowContext#wait_for_update and answers it,
    # and waits up to `wait_timeout_ms` (Keel's default 60 000) for the answer (docs/protocol.md
    # "Updates") → {"workflowId", "updateId", "name", "status", "result"?, "failure"?}: status
    # "completed" with the `result` of wf.respond, "rejected" with the `failure` {"type",
    # "message", "details"?} of wf.reject, or "pending" when the wait ended first (the update stays
    # delivered; call again with the same `update_id:` to wait for the same answer).
    #
    #   client.update_workflow("order-17", "approve", { "amount" => 5 })
    #   # => {"workflowId" => "order-17", "updateId" => "...", "name" => "approve", "status" => "completed",
    #   #     "result" => {"approved" => 5}}
    #
    # Every call carries an `updateId`: `update_id:` if given (1 to 512 bytes), else a fresh random
    # UUID. Keel delivers an update id once and answers a repeat with the same outcome, so a call
    # in flight when the connection drops is sent again after the reconnect.
    #
    # Raises Keel::Error WORKFLOW_NOT_FOUND (1001) for an unknown workflow or one that ended before
    # accepting the update, UPDATE_UNANSWERED (1031) when it ended without answering (`data`
    # {"workflowId", "updateId", "status"}), INPUT_CONTRACT_VIOLATION (3001) when `input` breaks
    # the update's contract (nothing is recorded), INVALID_PARAMS (-32602) for a bad update id.
    def update_workflow(workflow_id, name, input = nil, update_id: nil, wait_timeout_ms: nil)
      params = { "workflowId" => workflow_id, "name" => name, "input" => input, "updateId" => update_id || SecureRandom.uuid }
      params["waitTimeoutMs"] = wait_timeout_ms unless wait_timeout_ms.nil?
      call("workflow/update", params, timeout: wait_bound(wait_timeout_ms || DEFAULT_UPDATE_WAIT_MS))
    end

    # `workflow/result`: waits up to `wait_timeout_ms` for the workflow to end →
    # {"workflowId", "status", "output"?, "failure"?} (past the timeout, the current status).
    def workflow_result(workflow_id, wait_timeout_ms: nil)
      params = { "workflowId" => workflow_id, "waitTimeoutMs" => wait_timeout_ms }.compact
      call("workflow/result", params, timeout: wait_bound(wait_timeout_ms || DEFAULT_WORKFLOW_WAIT_MS))
    end

    # Follows the stream of execution `workflow_id` (docs/protocol.md "Streams"): yields each
    # event after offset `after_offset` once, in offset order, as the wire object
    # {"offset", "name", "event", "atMs", "source" ("workflow"|"activity"), "seq"?, "taskId"?,
    # "attempt"?}, by long polls of `workflow/follow` (`wait_timeout_ms` each, the next one from
    # the last page's `nextOffset`); returns the last page (its "status") once a page says `done`,
    # i.e. the execution ended and every event was yielded. Without a block, an Enumerator.
    #
    #   client.follow(workflow_id) { |e| puts "#{e['offset']} #{e['name']}: #{e['event']}" }
    #   client.follow(workflow_id, after_offset: 10).first(5)
    #
    # A page in flight when the connection drops is asked again after the reconnect with the same
    # `afterOffset` (a read), so nothing is lost or yielded twice. To stop early, `break` out of
    # the block. Raises Keel::Error, e.g. 4001 for an unknown workflow id.
    def follow(workflow_id, after_offset: 0, limit: nil, wait_timeout_ms: FOLLOW_WAIT_MS, &block)
      unless block
        return enum_for(:follow, workflow_id, after_offset: after_offset, limit: limit, wait_timeout_ms: wait_timeout_ms)
      end

      offset = Integer(after_offset)
      loop do
        page = follow_page(workflow_id, after_offset: offset, limit: limit, wait_timeout_ms: wait_timeout_ms)
        Array(page["events"]).each do |event|
          next if event["offset"].is_a?(Integer) && event["offset"] <= offset # never twice

          block.call(event)
          offset = event["offset"] if event["offset"].is_a?(Integer)
        end
        return page if page["done"] == true

        offset = page["nextOffset"] if page["nextOffset"].is_a?(Integer) && page["nextOffset"] > offset
      end
    end

    # One `workflow/follow` page → {"workflowId", "events", "nextOffset", "status", "done"}: at
    # once when events after `after_offset` exist, else after up to `wait_timeout_ms` (Keel's
    # default 0) for one. `limit`: 1-1000 events (Keel's default 100).
    def follow_page(workflow_id, after_offset: 0, limit: nil, wait_timeout_ms: nil)
      params = { "workflowId" => workflow_id, "afterOffset" => after_offset, "limit" => limit,
                 "waitTimeoutMs" => wait_timeout_ms }.compact
      call("workflow/follow", params, timeout: wait_bound(wait_timeout_ms || 0))
    end

    # `workflow/signal` → {"delivered" => true, "consumed" => bool, "duplicate" => bool}.
    # Every call carries a `requestId`: `request_id:` if given (1 to 512 bytes; reuse one to make a
    # retry, even from another process, deduplicate), else a fresh random UUID. Keel delivers the
    # first signal with a given id and answers a later one `"duplicate" => true` without delivering
    # it, so a signal in flight when the connection drops is sent again after the reconnect.
    # `request_id: nil` sends none: every such signal is delivered, and one in flight at a drop
    # raises Keel::ConnectionLost.
    def signal_workflow(workflow_id, name, payload = nil, request_id: SecureRandom.uuid)
      params = { "workflowId" => workflow_id, "name" => name, "payload" => payload }
      params["requestId"] = request_id unless request_id.nil?
      call("workflow/signal", params)
    end

    # `workflow/cancel` → {"status"}; the workflow sees Cancelled at its current step.
    def cancel_workflow(workflow_id, reason: nil)
      call("workflow/cancel", { "workflowId" => workflow_id, "reason" => reason }.compact)
    end

    # `workflow/describe` → {workflowId, name, status, runId, input, output?, failure?,
    # searchAttributes?, memo?, ...}.
    def describe_workflow(workflow_id) = call("workflow/describe", { "workflowId" => workflow_id })

    # `workflow/list` → {"workflows" => [{workflowId, name, status, createdAtMs, updatedAtMs,
    # searchAttributes?}], "nextCursor"?}. Filters are the wire names, as a Hash or keywords:
    # `status`, `name`, `createdAfterMs`, `createdBeforeMs`, `limit`, `cursor` and `query`, a
    # search over search attributes and the built-ins workflowId, name, status, startedAt,
    # updatedAt (docs/protocol.md "Search attributes and memo"):
    #
    #   client.list_workflows("status" => "running")
    #   client.list_workflows(query: 'customer = "acme" AND amount >= 100 AND NOT vip = true')
    #   client.list_workflows(query: 'region IN ("eu", "us") AND startedAt > "2026-12-01"', limit: 50)
    #
    # Operators: = != < <= > >= IN STARTS_WITH, AND OR NOT, parentheses. A query that does not
    # parse raises Keel::Error INVALID_QUERY (1013) with data {"query", "position", "token"}.
    def list_workflows(filters = {}, **more) = call("workflow/list", filters.merge(more).transform_keys(&:to_s))

    # `workflow/history` → {workflowId, runId, entries: [...]}.
    def workflow_history(workflow_id) = call("workflow/history", { "workflowId" => workflow_id })

    # `activity/call`: one durable activity call. With `wait` it returns the final result (or the
    # current status after `wait_timeout_ms`); without, at once with status "scheduled".
    # → {"taskId", "status", "attempts", "output"?, "failure"?}
    #
    # `priority` (Integer, -1000..1000; Keel's default 0) and `fairness_key` (String, 1-256
    # chars) order the queue of this activity: the highest priority runs first, and within one
    # priority Keel takes tasks round-robin over fairness keys (docs/protocol.md "Priorities and
    # fairness"). Each is sent only when given.
    #
    # Raises Keel::Error, e.g. code 3001 inputContractViolation, 4002 idempotencyConflict, or
    # -32602 for a priority out of range or an empty or too long fairness key.
    def call_activity(name, input = nil, idempotency_key: nil, wait: true, wait_timeout_ms: nil, retry_policy: nil,
                      timeouts: nil, priority: nil, fairness_key: nil)
      params = { "name" => name, "input" => input, "wait" => wait, "idempotencyKey" => idempotency_key,
                 "waitTimeoutMs" => wait_timeout_ms, "timeouts" => timeouts,
                 "retryPolicy" => retry_policy.respond_to?(:to_wire) ? retry_policy.to_wire : retry_policy,
                 "priority" => priority, "fairnessKey" => fairness_key }
      params = params.compact.merge("input" => input)
      call("activity/call", params, timeout: wait ? wait_timeout_ms && wait_bound(wait_timeout_ms) : CALL_TIMEOUT_S)
    end

    # `activity/result` by task id or idempotency key.
    def activity_result(task_id = nil, idempotency_key: nil, wait_timeout_ms: nil)
      raise ArgumentError, "give exactly one of task_id and idempotency_key" if task_id.nil? == idempotency_key.nil?

      params = { "taskId" => task_id, "idempotencyKey" => idempotency_key, "waitTimeoutMs" => wait_timeout_ms }.compact
      call("activity/result", params, timeout: wait_timeout_ms && wait_bound(wait_timeout_ms))
    end

    # `activity/cancel` → {"status"}.
    def cancel_activity(task_id) = call("activity/cancel", { "taskId" => task_id })

    # `schedule/create`: starts workflow `action["workflow"]` at each time of `spec` → the
    # `schedule/describe` object. `spec` and `action` are the wire Hashes:
    # spec {"cron" => "0 9 * * MON-FRI", "timeZone"?} or {"intervalMs" => 3_600_000, "offsetMs"?},
    # either with "jitterMs"?; action {"workflow", "input"?, "priority"?, "fairnessKey"?,
    # "executionTimeoutMs"?, "runTimeoutMs"?}. `overlap`: "skip" (Keel's default), "bufferOne",
    # "allowAll" or "cancelOther"; `catchup_window_ms` (default one year, at least 10 000);
    # `paused` (default false); `note`. Each optional one is sent only when given. Each slot's
    # workflow id is "<schedule_id>-<slot time, UTC ISO 8601 to the second>".
    #
    # Raises Keel::Error: 1021 SCHEDULE_ALREADY_EXISTS for an id in use, -32602 for a bad spec.
    def create_schedule(schedule_id, spec:, action:, overlap: nil, catchup_window_ms: nil, paused: nil, note: nil)
      params = { "scheduleId" => schedule_id, "spec" => spec, "action" => action, "overlap" => overlap,
                 "catchupWindowMs" => catchup_window_ms, "paused" => paused, "note" => note }.compact
      call("schedule/create", params)
    end

    # `schedule/describe` → {scheduleId, spec, action, overlap, catchupWindowMs, paused, note?,
    # createdAtMs, updatedAtMs, nextActionTimesMs, recentActions: [{slotMs, workflowId,
    # startedAtMs}] (newest last), runningWorkflowId?, bufferedSlotMs?, started, skipped}.
    # Raises Keel::Error 1020 SCHEDULE_NOT_FOUND for an unknown id (as do the methods below).
    def describe_schedule(schedule_id) = call("schedule/describe", { "scheduleId" => schedule_id })

    # `schedule/list`, by schedule id → {"schedules" => [{scheduleId, workflow, spec, paused,
    # nextActionTimeMs?}], "nextCursor"?}. `limit`: 1-1000 (Keel's default 100); `cursor`: a
    # page's "nextCursor", for the next page.
    def list_schedules(limit: nil, cursor: nil)
      call("schedule/list", { "limit" => limit, "cursor" => cursor }.compact)
    end

    # `schedule/pause` → the describe object. No slot starts while paused; `note` says why.
    def pause_schedule(schedule_id, note: nil)
      call("schedule/pause", { "scheduleId" => schedule_id, "note" => note }.compact)
    end

    # `schedule/unpause` → the describe object. Slots missed while paused are not caught up.
    def unpause_schedule(schedule_id, note: nil)
      call("schedule/unpause", { "scheduleId" => schedule_id, "note" => note }.compact)
    end

    # `schedule/trigger`: starts the action now, even when paused, under the schedule's overlap
    # policy or `overlap` if given → {"scheduleId", "workflowId", "started" => bool}.
    def trigger_schedule(schedule_id, overlap: nil)
      call("schedule/trigger", { "scheduleId" => schedule_id, "overlap" => overlap }.compact)
    end

    # `schedule/delete` → {"scheduleId", "deleted" => true}. Workflows it started keep running.
    def delete_schedule(schedule_id) = call("schedule/delete", { "scheduleId" => schedule_id })

    # `worker/list` → the connected workers (wire objects).
    def workers = Array(call("worker/list", {})["workers"])

    # Round trip to Keel.
    def ping = call("ping", {})

    private

    # The `workflow/start` params: each option only when given, `input` always (nil as null).
    def start_params(name, input, workflow_id: nil, conflict_policy: nil, priority: nil, fairness_key: nil,
                     search_attributes: nil, memo: nil)
      params = { "name" => name, "input" => input, "workflowId" => workflow_id, "conflictPolicy" => conflict_policy,
                 "priority" => priority, "fairnessKey" => fairness_key, "searchAttributes" => search_attributes,
                 "memo" => memo }.compact
      params["input"] = input
      params
    end

    # One call, reconnecting first if the connection dropped; repeated after a drop only when
    # Reconnect.safe_to_repeat? allows, else ConnectionLost.
    def call(method, params, timeout: CALL_TIMEOUT_S)
      loop do
        connection = connected
        begin
          return connection.call(method, params, timeout: timeout)
        rescue ConnectionClosed => e
          raise if @closed || @endpoints.nil?
          raise ConnectionLost.new(method, e.message) unless Reconnect.safe_to_repeat?(method, params)
        end
      end
    end

    def connected
      @lock.synchronize do
        return @connection unless @connection.closed? && !@closed && @endpoints

        deadline = monotonic + @reconnect_timeout
        @endpoints.failed # the connected endpoint dropped: start with the next one
        begin
          @connection = self.class.send(:open_connection, @endpoints.current, @max_frame_bytes)
          @backoff.reset
          @endpoints.succeeded
          @connection
        rescue Error, SystemCallError, IOError, OpenSSL::SSL::SSLError, Connection::Timeout => e
          raise if e.is_a?(Error) && FATAL_CODES.include?(e.code)
          retry unless @endpoints.failed # try the next endpoint at once; wait only after a whole round

          pause = @backoff.next_wait
          raise if monotonic + pause > deadline

          sleep(pause)
          retry
        end
      end
    end

    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def wait_bound(wait_timeout_ms) = (wait_timeout_ms / 1000.0) + WAIT_SLACK_S
  end
end
