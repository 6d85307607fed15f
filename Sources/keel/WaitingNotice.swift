import Foundation
import KeelCore

/// The stderr line that tells a person at once that nothing can run what they queued (issue 13):
/// "keel: no worker serves greet.helo; waiting up to 60 s for one (--schedule-to-start to change);
/// did you mean greet.hello?". Nil when the answer has no `waitingForWorker`.
func waitingNotice(_ answer: JSONValue, name: String, waiting: String) -> String? {
    guard answer["waitingForWorker"] == true else { return nil }
    var line = "keel: no worker serves \(name); \(waiting)"
    let suggestions = (answer["suggestions"]?.arrayValue ?? []).compactMap(\.stringValue)
    if !suggestions.isEmpty { line += "; did you mean \(suggestions.joined(separator: " or "))?" }
    return line
}

/// Writes one line to stderr.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// "2 s" for whole seconds, "1500 ms" otherwise.
func describeMillis(_ ms: Int64) -> String { ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms" }
