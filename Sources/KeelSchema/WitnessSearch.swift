import KeelCore

/// Looks for instances that one schema accepts and another rejects (issue 16), among the
/// candidates of ``InstanceGenerator``; each one found is confirmed by both validators.
enum WitnessSearch {
    /// An instance `keep` accepts and `lose` rejects, with the first error `lose` reports.
    struct Witness {
        var instance: JSONValue
        var error: ValidationError
    }

    /// Candidates tried, at most (smallest first).
    static let maximumCandidates = 3000

    /// Up to `limit` witnesses that fail `lose` at distinct keyword locations, smallest first.
    /// - Parameter focus: a JSON Pointer into either schema; the property names on it are tried first.
    static func find(
        keep: SchemaDocument, lose: SchemaDocument, limit: Int = 4, focus: String? = nil, deadline: Deadline = .never
    ) -> (witnesses: [Witness], tried: Int) {
        var generator = InstanceGenerator(preferring: keep)
        generator.deadline = deadline
        if let tokens = focus.flatMap(JSONPointer.tokens) {
            generator.focus = Set(zip(tokens, tokens.dropFirst()).filter { $0.0 == "properties" }.map(\.1))
        }
        let candidates = generator.values([keep.top, lose.top])
            .map { (value: $0, size: JSONWriter.string($0).utf8.count) }
            .sorted { $0.size < $1.size }
            .prefix(maximumCandidates)
        var found: [Witness] = []
        var locations: Set<String> = []
        var tried = 0
        for c in candidates {
            if deadline.passed { break }
            tried += 1
            guard keep.validator.isValid(c.value), !lose.validator.isValid(c.value) else { continue }
            guard let error = lose.validator.validate(c.value).first,
                locations.insert(error.keywordLocation).inserted
            else { continue }
            found.append(Witness(instance: c.value, error: error))
            if found.count >= limit { break }
        }
        return (found, tried)
    }

    /// True when `instance` separates the two: `keep` accepts it and `lose` rejects it.
    static func separates(_ instance: JSONValue, keep: Validator, lose: Validator) -> Bool {
        keep.isValid(instance) && !lose.isValid(instance)
    }
}
