# frozen_string_literal: true

module Keel
  # A queue whose `pop` takes a timeout (Ruby 3.1's Thread::Queue#pop has none; 3.2 added it).
  # `close` wakes every waiter; `pop` on a closed, empty queue returns nil at once.
  class TimedQueue
    def initialize
      @items = []
      @mutex = Mutex.new
      @changed = ConditionVariable.new
      @closed = false
    end

    def push(item)
      @mutex.synchronize do
        @items << item unless @closed
        @changed.signal
      end
      self
    end
    alias << push

    # The next item, or nil after `timeout` seconds (nil: wait forever) or once closed and empty.
    def pop(timeout = nil)
      deadline = timeout && (Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout)
      @mutex.synchronize do
        while @items.empty? && !@closed
          if deadline
            left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
            return nil if left <= 0

            @changed.wait(@mutex, left)
          else
            @changed.wait(@mutex)
          end
        end
        @items.shift
      end
    end

    def close
      @mutex.synchronize do
        @closed = true
        @changed.broadcast
      end
      self
    end
  end
end
