import KeelCore
import KeelSchema

/// How `keel schema diff` and `keel schema check` print contract changes and decide their exit
/// status (docs/schema.md, "Breaking changes, by meaning").
enum ChangeReport {
    /// True when `changes` fail CI: a certain break, or with `strict` a possible one.
    static func fails(_ changes: [ContractDiff.Change], strict: Bool) -> Bool {
        changes.contains { $0.verdict == .breaking || (strict && $0.verdict == .possiblyBreaking) }
    }

    /// The label of a verdict in text output (one width, so lines align).
    static func label(_ verdict: ContractDiff.Verdict) -> String {
        switch verdict {
        case .breaking: "BREAKING         "
        case .possiblyBreaking: "POSSIBLY BREAKING"
        case .compatible: "compatible       "
        case .noChangeInMeaning: "no change        "
        }
    }

    /// One text line: verdict, role, pointer, reason, and for a break its witness.
    static func text(_ c: ContractDiff.Change, prefix: String = "") -> String {
        let pointer = c.pointer.isEmpty ? "/" : c.pointer
        var line = "\(prefix)\(label(c.verdict))  \(c.role) \(pointer): \(c.reason)"
        if let w = c.witness {
            let side = c.role == "input" ? "old accepts, new rejects" : "new accepts, old rejected"
            line += "\n\(prefix)                     witness (\(side)): \(JSONWriter.string(w, sortedKeys: true))"
        }
        return line
    }

    /// One GitHub Actions annotation for a break or a possible break (nil for the others):
    /// an error, or a warning for a possible break unless `strict`.
    static func github(_ c: ContractDiff.Change, file: String?, title: String, strict: Bool) -> String? {
        let level: String
        switch c.verdict {
        case .breaking: level = "error"
        case .possiblyBreaking: level = strict ? "error" : "warning"
        default: return nil
        }
        var message = "\(c.verdict.rawValue): \(c.role) \(c.pointer.isEmpty ? "/" : c.pointer): \(c.reason)"
        if let w = c.witness { message += "; witness: \(JSONWriter.string(w, sortedKeys: true))" }
        return GitHubAnnotation.line(level, file: file, title: title, message: message)
    }
}
