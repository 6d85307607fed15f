# frozen_string_literal: true

require "logger"

# Keel Ruby client: workers that serve activities and workflows, and a client that starts them.
#
#   require "keel"
#
#   worker = Keel::Worker.new("hello-worker")
#   worker.activity("greet.hello") { |input| { greeting: "Hello, #{input['name']}" } }
#   worker.run
module Keel
  VERSION = "0.1.0"

  class << self
    # Where the library logs (stderr: over stdio, stdout is the wire). Replaceable.
    attr_writer :logger

    def logger
      @logger ||= Logger.new($stderr, progname: "keel", level: ENV.fetch("KEEL_LOG_LEVEL", "info"))
    end
  end
end

require_relative "keel/errors"
require_relative "keel/framing"
require_relative "keel/connection"
require_relative "keel/transport"
require_relative "keel/activity"
require_relative "keel/workflow"
require_relative "keel/worker"
require_relative "keel/client"
