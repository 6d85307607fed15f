public import KeelCore

extension KeelError {
    /// The error for a payload that breaks its contract: `inputContractViolation` (3001) or
    /// `outputContractViolation` (3002), with the first error as the message and every error in
    /// `data` as `{"errors": [{instanceLocation, keywordLocation, keyword, message}, …]}`.
    /// - Parameters:
    ///   - errors: what ``Validator/validate(_:)`` returned (non-empty).
    ///   - input: true for an activity/workflow input, false for an output.
    ///   - name: the contract name for the message, e.g. `billing.charge`.
    public static func contractViolation(_ errors: [ValidationError], input: Bool, name: String? = nil) -> KeelError {
        let what = input ? "input" : "output"
        let subject = name.map { "The \(what) of \($0)" } ?? "The \(what)"
        var message = "\(subject) does not match its contract"
        if let first = errors.first {
            message += ": \(first.description)"
            if errors.count > 1 { message += " (and \(errors.count - 1) more)" }
        }
        message += "."
        return KeelError(
            input ? .inputContractViolation : .outputContractViolation, message,
            data: ["errors": .array(errors.map(\.json))])
    }
}
