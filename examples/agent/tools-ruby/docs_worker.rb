# frozen_string_literal: true

# The agent's document search, `docs.search` ({query, limit?} -> {query, hits}), in Ruby on
# clients/ruby: scores the paragraphs of examples/agent/docs/*.md by the query words they share
# (longer words count more) and returns the best passages. Each search appends one JSON line to
# $KEEL_EXAMPLE_LOG (default examples/agent/.state/side-effects.jsonl).
require_relative "../../../clients/ruby/lib/keel"
require "json"

HERE = File.expand_path(__dir__)
DOCS = File.join(HERE, "..", "docs")
LOG = ENV.fetch("KEEL_EXAMPLE_LOG", "").empty? ? File.join(HERE, "..", ".state", "side-effects.jsonl") : ENV["KEEL_EXAMPLE_LOG"]
STOP = %w[the and for with that this are per our your from into have has not].freeze

# Paragraphs of every document: [{file, title, text}], read once.
PASSAGES = Dir[File.join(DOCS, "*.md")].sort.flat_map do |path|
  text = File.read(path)
  title = text[/^# (.+)$/, 1] || File.basename(path)
  text.split(/\n\s*\n/).map { |p| p.gsub(/\s+/, " ").strip }.reject { |p| p.empty? || p.start_with?("#") }
      .map { |p| { file: "docs/#{File.basename(path)}", title: title, text: p } }
end.freeze

def words(text)
  text.downcase.scan(/[a-z0-9]+/).reject { |w| w.length < 3 || STOP.include?(w) }
end

def stem(word)
  word.sub(/(ies|es|s|ly|ing|ed)\z/, "")
end

def search(query, limit)
  wanted = words(query).map { |w| stem(w) }.uniq
  scored = PASSAGES.map do |passage|
    have = words("#{passage[:title]} #{passage[:text]}").map { |w| stem(w) }
    score = wanted.sum { |w| have.include?(w) ? w.length : 0 }
    [score, passage]
  end
  scored.select { |score, _| score.positive? }.sort_by { |score, p| [-score, p[:file]] }.first(limit)
        .map { |score, p| { file: p[:file], title: p[:title], passage: p[:text], score: score } }
end

# One O_APPEND write per line, so lines from all the example's processes never interleave.
def log_side_effect(ctx, input, output)
  line = JSON.generate(tool: "docs.search", idempotencyKey: ctx.idempotency_key, attempt: ctx.attempt,
                       workflowId: ctx.workflow_id, pid: Process.pid, atMs: (Time.now.to_f * 1000).to_i,
                       input: input, output: output)
  Dir.mkdir(File.dirname(LOG)) unless Dir.exist?(File.dirname(LOG))
  File.open(LOG, File::WRONLY | File::APPEND | File::CREAT, 0o644) { |f| f.syswrite("#{line}\n") }
end

worker = Keel::Worker.new("tools-ruby", max_concurrent: 4)
worker.activity("docs.search",
                description: "Searches the team's documents; returns the best passages.",
                input: { "type" => "object", "required" => ["query"],
                         "properties" => { "query" => { "type" => "string", "minLength" => 1 },
                                           "limit" => { "type" => "integer", "minimum" => 1, "maximum" => 10 } } },
                output: { "type" => "object", "required" => %w[query hits] }) do |input, ctx|
  output = { query: input["query"], hits: search(input["query"], input.fetch("limit", 3)) }
  log_side_effect(ctx, input, output)
  output
end
worker.run
