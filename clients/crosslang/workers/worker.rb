# The Ruby worker of the cross-language suite: activity ruby.reverse ({text} -> {text: reversed, by: "ruby"}).
$LOAD_PATH.unshift File.expand_path("../../ruby/lib", __dir__)
require "keel"

worker = Keel::Worker.new("crosslang-ruby")
worker.activity("ruby.reverse",
                input: { "type" => "object", "properties" => { "text" => { "type" => "string" } }, "required" => ["text"] },
                output: { "type" => "object", "required" => ["text", "by"] }) do |input|
  { text: input["text"].reverse, by: "ruby" }
end
worker.run
