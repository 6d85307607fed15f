# frozen_string_literal: true

require "json"
require "openssl" # a TLS stream fails with OpenSSL::SSL::SSLError

module Keel
  # Line framing: one UTF-8 JSON message per "\n"-terminated line, with a maximum frame size.
  #
  # docs/protocol.md, Framing: "One message per line: UTF-8 JSON without raw newlines, terminated
  # by `\n` (`\r\n` is accepted). A line longer than the frame limit (default 16 MiB) is discarded
  # up to its newline and answered with error `-32002 messageTooLarge`, `id: null`."
  module Framing
    DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
    # Bytes asked of the stream per read; large enough that small frames arrive many per read.
    READ_CHUNK_BYTES = 256 * 1024
    NEWLINE = "\n".b.freeze
    CR = "\r".b.freeze

    # Encodes one message as a compact JSON line. JSON.generate escapes control characters in
    # strings, so the only raw newline is the terminator; NaN and Infinity are refused.
    #
    # Raises JSON::GeneratorError (or EncodingError) when `message` is not JSON.
    def self.encode(message)
      (JSON.generate(message) + NEWLINE).b
    end

    # Splits a byte stream into frames. Pure: no I/O, so tests can feed it any split.
    # `feed` returns complete frames (binary Strings without the terminator) and, for each line
    # over the limit, one FrameTooLarge in its place. Empty lines are skipped.
    class LineDecoder
      attr_reader :max_frame_bytes

      def initialize(max_frame_bytes = DEFAULT_MAX_FRAME_BYTES)
        raise ArgumentError, "max_frame_bytes must be positive" unless max_frame_bytes.positive?

        @max_frame_bytes = max_frame_bytes
        @partial = String.new(encoding: Encoding::BINARY)
        @discarding = false
      end

      # Consumes `data`; returns the frames it completed, in order.
      def feed(data)
        data = data.b
        out = []
        start = 0
        loop do
          newline = data.index(NEWLINE, start)
          if newline.nil?
            buffer_tail(data, start, out)
            return out
          end
          if @discarding
            @discarding = false # the oversize line was reported when it crossed the limit
          else
            line = @partial.empty? ? data.byteslice(start, newline - start) : take_partial(data, start, newline)
            emit(line, out)
          end
          start = newline + 1
        end
      end

      # At end of stream: a final unterminated line, if any (accepted leniently).
      def finish
        line = @partial
        @partial = String.new(encoding: Encoding::BINARY)
        discarding = @discarding
        @discarding = false
        return [] if discarding || line.strip.empty?

        line = line.byteslice(0, line.bytesize - 1) if line.end_with?(CR)
        [line]
      end

      private

      def buffer_tail(data, start, out)
        return if @discarding

        @partial << data.byteslice(start, data.bytesize - start)
        # +1: the line may still end in "\r\n", whose "\r" does not count.
        return unless @partial.bytesize > @max_frame_bytes + 1

        out << FrameTooLarge.new(@max_frame_bytes)
        @partial = String.new(encoding: Encoding::BINARY)
        @discarding = true
      end

      def take_partial(data, start, newline)
        @partial << data.byteslice(start, newline - start)
        line = @partial
        @partial = String.new(encoding: Encoding::BINARY)
        line
      end

      def emit(line, out)
        line = line.byteslice(0, line.bytesize - 1) if line.end_with?(CR)
        if line.bytesize > @max_frame_bytes
          out << FrameTooLarge.new(@max_frame_bytes, line.bytesize)
        elsif !line.empty?
          out << line
        end
      end
    end

    # Reads frames from an IO. One thread owns it: `read` is not safe to call concurrently.
    class Reader
      def initialize(io, max_frame_bytes = DEFAULT_MAX_FRAME_BYTES)
        @io = io
        @decoder = LineDecoder.new(max_frame_bytes)
        @ready = []
        @eof = false
      end

      # Returns the next frame as a UTF-8 String, or nil at end of stream.
      #
      # Raises FrameTooLarge (a line over the limit was discarded) or InvalidFrame (not UTF-8);
      # call `read` again after either.
      def read
        while @ready.empty?
          return nil if @eof

          fill
        end
        item = @ready.shift
        raise item if item.is_a?(Exception)

        text = item.force_encoding(Encoding::UTF_8)
        raise InvalidFrame, "message is not valid UTF-8" unless text.valid_encoding?

        text
      end

      private

      def fill
        @ready.concat(@decoder.feed(@io.readpartial(READ_CHUNK_BYTES)))
      rescue EOFError, Errno::ECONNRESET, Errno::EPIPE, IOError, OpenSSL::SSL::SSLError
        @eof = true
        @ready.concat(@decoder.finish)
      end
    end

    # Writes frames to an IO from any thread, coalescing: `write` encodes at once (so encoding
    # errors reach the caller) and queues the bytes; one writer thread hands everything queued
    # so far to the IO in a single write.
    class Writer
      # Bound on how long `close` waits for queued bytes to leave.
      CLOSE_FLUSH_TIMEOUT_S = 1.0

      # The peer's frame limit (from initialize), or nil; larger messages are refused locally.
      attr_accessor :max_frame_bytes

      def initialize(io, max_frame_bytes: nil)
        @io = io
        @max_frame_bytes = max_frame_bytes
        @queue = Thread::Queue.new
        @closed = false
        @thread = Thread.new { pump }
        @thread.name = "keel-writer"
      end

      # Queues one message. Never blocks on the IO.
      #
      # Raises JSON::GeneratorError when not JSON, FrameTooLarge when over `max_frame_bytes`.
      def write(message)
        data = Framing.encode(message)
        raise FrameTooLarge.new(@max_frame_bytes, data.bytesize - 1) if @max_frame_bytes && data.bytesize - 1 > @max_frame_bytes

        @queue << data unless @closed
        nil
      rescue ClosedQueueError
        nil # closed meanwhile: dropped, as after close
      end

      # Flushes queued bytes (bounded wait) and closes the IO. Safe to call twice.
      def close
        return if @closed

        @closed = true
        @queue.close
        @thread.join(CLOSE_FLUSH_TIMEOUT_S) unless Thread.current == @thread
        @thread.kill
        @io.close unless @io.closed?
      rescue IOError, SystemCallError
        nil
      end

      private

      def pump
        while (data = @queue.pop)
          batch = data.dup
          batch << @queue.pop(true) until @queue.empty?
          @io.write(batch)
          @io.flush
        end
      rescue IOError, SystemCallError, ThreadError, OpenSSL::SSL::SSLError
        @closed = true # the peer is gone; the reader sees EOF and closes the connection
      end
    end
  end
end
