# frozen_string_literal: true

require_relative "lib/keel"

Gem::Specification.new do |spec|
  spec.name = "keel"
  spec.version = Keel::VERSION
  spec.summary = "Keel client: workers that serve activities and workflows, and a client that starts them."
  spec.description = "Line-framed JSON-RPC 2.0 client for the Keel durable-execution orchestrator. Standard library only."
  spec.authors = ["Keel contributors"]
  spec.license = "Apache-2.0"
  spec.files = Dir["lib/**/*.rb", "README.md"]
  spec.require_paths = ["lib"]
  spec.required_ruby_version = ">= 3.1"
  spec.metadata["rubygems_mfa_required"] = "true"
end
