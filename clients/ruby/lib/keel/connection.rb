# frozen_string_literal: true

require "json"
require "securerandom"
require "set"
require_relative "errors"
require_relative "framing"
require_relative "timed_queue"

module Keel
  # One JSON-RPC 2.0 peer over a line-framed byte stream: calls and notifications out, requests
  # and notifications in.
  #
  # Register handlers with `on_request`/`on_notification` before `start`. A reader thread parses
  # incoming lines; each incoming request runs in its own thread, so a slow handler never blocks
  # the reader. Writes from all threads are coalesced by the Framing::Writer. When the stream
  # ends, pending calls raise ConnectionClosed and `on_close` callbacks run.
  class Connection
    # A call in flight: `value` blocks until the answer (or the connection closes).
    class Pending
      attr_reader :id

      def initialize(id)
        @id = id
        @queue = TimedQueue.new
      end

      # Delivers the outcome once: [:result, value] or [:error, exception].
      def resolve(outcome)
        @queue << outcome
      end

      # Blocks for the answer; `timeout` in seconds (nil = until the connection closes).
      #
      # Raises Keel::Error (the peer answered an error), ConnectionClosed, or Timeout (no answer).
      def value(timeout = nil)
        @outcome ||= @queue.pop(timeout)
        raise Timeout, "no answer to request #{@id.inspect} within #{timeout}s" if @outcome.nil?

        kind, value = @outcome
        raise value if kind == :error

        value
      end
    end

    # No answer within the caller's timeout.
    class Timeout < StandardError; end

    NOT_AN_ID = Object.new.freeze

    # The Framing::Writer (e.g. to set `max_frame_bytes` to the peer's limit).
    attr_reader :writer

    # - input, output: IO objects (the same socket twice, or stdin and the real stdout)
    # - max_frame_bytes: limit on incoming lines
    # - logger: where handler failures go (stderr by default; never stdout)
    def initialize(input, output, max_frame_bytes: Framing::DEFAULT_MAX_FRAME_BYTES, logger: Keel.logger)
      @reader = Framing::Reader.new(input, max_frame_bytes)
      @writer = Framing::Writer.new(output)
      @input = input
      @logger = logger
      @mutex = Mutex.new
      @next_id = 0
      @pending = {}
      @request_handlers = {}
      @notification_handlers = {}
      @close_callbacks = []
      @closed = false
      @closed_queue = TimedQueue.new
      @handlers = Set.new
    end

    # Serves `method`: `handler.call(params)` (run in its own thread) gives the result; a raised
    # Keel::Error becomes the error response, anything else -32603 with an incident id.
    def on_request(method, &handler)
      @request_handlers[method] = handler
    end

    # Handles notification `method`; runs on the reader thread, so it must not block.
    def on_notification(method, &handler)
      @notification_handlers[method] = handler
    end

    # Runs `block.call(method, params)` on the reader thread for each request, in arrival order,
    # just before its handler's thread starts (e.g. to count work in flight without a race). A
    # Keel::Error raised by the block is the answer, and the handler does not run.
    def on_receive(&block)
      @receive_hook = block
    end

    # Runs `block.call(method)` after a request's answer was queued for writing (answers leave in
    # queue order), or dropped because the connection closed.
    def on_answered(&block)
      @answered_hook = block
    end

    # Runs `block` once when the connection closes (by the peer or by `close`).
    def on_close(&block)
      @close_callbacks << block
    end

    # Starts the reader thread. Call once.
    def start
      raise "Connection#start called twice" if @reader_thread

      @reader_thread = Thread.new { read_loop }
      @reader_thread.name = "keel-reader"
      self
    end

    def closed?
      @closed
    end

    # Sends a request and returns its result, waiting at most `timeout` seconds (nil: no bound
    # but the connection's life).
    #
    # Raises Keel::Error, ConnectionClosed, Connection::Timeout.
    def call(method, params = {}, timeout: nil)
      pending = call_async(method, params)
      begin
        pending.value(timeout)
      ensure
        @mutex.synchronize { @pending.delete(pending.id) }
      end
    end

    # Sends a request and returns its Pending at once (for several calls in flight).
    def call_async(method, params = {})
      pending = @mutex.synchronize do
        raise ConnectionClosed, "connection is closed" if @closed

        @next_id += 1
        @pending[@next_id] = Pending.new(@next_id)
      end
      begin
        @writer.write({ "jsonrpc" => "2.0", "id" => pending.id, "method" => method, "params" => params || {} })
      rescue StandardError
        @mutex.synchronize { @pending.delete(pending.id) }
        raise
      end
      pending
    end

    # Queues a notification (no answer). Dropped silently if the connection is closed.
    def notify(method, params = {})
      @writer.write({ "jsonrpc" => "2.0", "method" => method, "params" => params || {} }) unless @closed
    end

    # Bound on how long `close` lets request handlers that are finishing write their answers
    # (e.g. the `shutdown` answer, sent after the worker began stopping).
    CLOSE_GRACE_S = 1.0

    # Lets finishing handlers answer (bounded), flushes queued writes (bounded), closes the
    # stream and fails pending calls.
    def close
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + CLOSE_GRACE_S
      @mutex.synchronize { @handlers.to_a }.each do |thread|
        next if thread == Thread.current

        thread.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max)
      end
      @writer.close
      @input.close unless @input.closed?
    rescue IOError, SystemCallError
      nil
    ensure
      mark_closed("connection closed locally")
    end

    # Blocks until the connection closes, at most `timeout` seconds; true if it closed.
    def wait_closed(timeout = nil)
      @closed_queue.pop(timeout) unless @closed
      @closed
    end

    private

    def read_loop
      reason = "connection closed by peer"
      loop do
        line = begin
          @reader.read
        rescue FrameTooLarge => e
          send_answer(error_message(nil, MESSAGE_TOO_LARGE, e.message))
          next
        rescue InvalidFrame => e
          send_answer(error_message(nil, PARSE_ERROR, "Parse error: #{e.message}"))
          next
        end
        break if line.nil?

        handle_line(line)
      end
    rescue IOError, SystemCallError => e
      reason = "connection lost: #{e.message}"
    ensure
      mark_closed(reason)
    end

    def handle_line(line)
      message = begin
        JSON.parse(line) # NaN and Infinity are refused by default (allow_nan: false)
      rescue JSON::ParserError, EncodingError => e
        # "A line that is not JSON gets -32700 parseError with id: null; the connection stays open."
        return send_answer(error_message(nil, PARSE_ERROR, "Parse error: #{e.message.lines.first&.strip}"))
      end
      return handle_batch(message) if message.is_a?(Array)

      answer = handle_message(message)
      if answer.is_a?(Hash)
        send_answer(answer)
      elsif answer
        spawn { answer_later([answer]) { |answers| answers.first } }
      end
    end

    def handle_batch(batch)
      # JSON-RPC 2.0 §6: an empty array gets one Invalid Request, not an array.
      return send_answer(error_message(nil, INVALID_REQUEST, "Invalid Request: empty batch")) if batch.empty?

      answers = batch.map { |message| handle_message(message) }.compact
      spawn { answer_later(answers, &:itself) } unless answers.empty?
    end

    # Waits for the handler threads among `answers`, writes what `shape` makes of the answer
    # Hashes, then runs the on_answered hook for each handled request.
    def answer_later(answers, &shape)
      send_answer(shape.call(answers.map { |a| a.is_a?(Hash) ? a : a.value }))
    ensure
      answers.each { |a| @answered_hook&.call(a[:keel_method]) if a.is_a?(Thread) }
    end

    # Returns nil (nothing to answer), an answer Hash, or a Thread whose value is the answer.
    def handle_message(message)
      return error_message(nil, INVALID_REQUEST, "Invalid Request: a message must be a JSON object") unless message.is_a?(Hash)

      id = message.fetch("id", NOT_AN_ID)
      answer_id = valid_id?(id) ? id : nil
      return error_message(answer_id, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"') if message["jsonrpc"] != "2.0"

      method = message.fetch("method", NOT_AN_ID)
      if method.equal?(NOT_AN_ID)
        return handle_response(id, message) if (message.key?("result") || message.key?("error")) && !id.equal?(NOT_AN_ID)

        return error_message(answer_id, INVALID_REQUEST, "Invalid Request: neither a request nor a response")
      end
      if !method.is_a?(String) || (!id.equal?(NOT_AN_ID) && !valid_id?(id))
        return error_message(answer_id, INVALID_REQUEST, "Invalid Request: bad method or id")
      end

      params = message.fetch("params", {})
      return handle_notification(method, params) if id.equal?(NOT_AN_ID)
      # docs/protocol.md: "Params are always one object".
      return error_message(id, INVALID_PARAMS, "Invalid params: params must be an object") unless params.is_a?(Hash)

      handler = @request_handlers[method]
      return error_message(id, METHOD_NOT_FOUND, "Method not found: #{method}") if handler.nil?

      begin
        @receive_hook&.call(method, params)
      rescue Error => e
        return { "jsonrpc" => "2.0", "id" => id, "error" => e.to_wire }
      end
      spawn { run_handler(id, handler, params) }.tap { |thread| thread[:keel_method] = method }
    end

    def handle_response(id, message)
      pending = @mutex.synchronize { @pending.delete(id) if valid_id?(id) && !id.nil? }
      if pending.nil?
        @logger.debug("ignoring a response to unknown id #{id.inspect}")
      elsif message.key?("error")
        pending.resolve([:error, Error.from_wire(message["error"])])
      else
        pending.resolve([:result, message["result"]])
      end
      nil
    end

    def handle_notification(method, params)
      handler = @notification_handlers[method]
      if handler.nil?
        @logger.debug("ignoring unknown notification #{method}")
      else
        begin
          handler.call(params.is_a?(Hash) ? params : {})
        rescue StandardError => e
          @logger.error("notification handler for #{method} failed: #{e.class}: #{e.message}")
        end
      end
      nil
    end

    def run_handler(id, handler, params)
      { "jsonrpc" => "2.0", "id" => id, "result" => handler.call(params) }
    rescue Error => e
      { "jsonrpc" => "2.0", "id" => id, "error" => e.to_wire }
    rescue StandardError => e
      incident = SecureRandom.hex(6)
      @logger.error("request handler failed (incident #{incident}): #{e.class}: #{e.message}\n#{e.backtrace&.first(10)&.join("\n")}")
      error_message(id, INTERNAL_ERROR, "Internal error", { "incident" => incident })
    end

    # Answers go out even after the input ended (stdio: Keel closes our stdin, then reads our
    # last results); the writer drops them once it is closed itself.
    def send_answer(answer)
      begin
        @writer.write(answer)
      rescue JSON::GeneratorError, EncodingError, FrameTooLarge => e
        @logger.error("cannot encode an answer: #{e.message}")
        answers = answer.is_a?(Array) ? answer : [answer]
        replaced = answers.map { |a| error_message(a["id"], INTERNAL_ERROR, "Internal error: result not sendable: #{e.message}") }
        @writer.write(answer.is_a?(Array) ? replaced : replaced.first)
      end
      nil
    end

    def spawn(&block)
      @mutex.synchronize do
        thread = Thread.new do
          Thread.current.report_on_exception = false
          block.call
        ensure
          @mutex.synchronize { @handlers.delete(Thread.current) }
        end
        @handlers << thread
        thread
      end
    end

    def error_message(id, code, message, data = nil)
      { "jsonrpc" => "2.0", "id" => id, "error" => Error.new(code, message, data).to_wire }
    end

    def valid_id?(value)
      value.nil? || value.is_a?(String) || value.is_a?(Integer) || value.is_a?(Float)
    end

    def mark_closed(reason)
      pending = @mutex.synchronize do
        return if @closed

        @closed = true
        @pending.values.tap { @pending.clear }
      end
      error = ConnectionClosed.new(reason)
      pending.each { |p| p.resolve([:error, error]) }
      @closed_queue.close # wakes every wait_closed
      @close_callbacks.each do |callback|
        callback.call(reason)
      rescue StandardError => e
        @logger.error("on_close callback failed: #{e.message}")
      end
    end
  end
end
