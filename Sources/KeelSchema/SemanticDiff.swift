import KeelCore

/// The verdict on a schema change by what the schemas accept (issue 16, docs/schema.md).
///
/// With `keep` the side whose instances must still be accepted (input: old; output: new) and
/// `judge` the other: a witness `keep` accepts and `judge` rejects makes the change breaking;
/// else `keep ⊆ judge` proven makes it compatible (and `judge ⊆ keep` too: no change in
/// meaning); else it is possibly breaking, at the keyword the proof stopped.
enum SemanticDiff {
    /// Seconds one classification may take before what is left undecided is possibly breaking.
    static let timeLimit = 5.0

    static func classify(
        role: ContractDiff.Role, old: JSONValue, new: JSONValue, keywordChanges: [ContractDiff.Change],
        options: ValidatorOptions
    ) -> [ContractDiff.Change] {
        let name = role.rawValue
        if let deep = keywordChanges.first(where: { $0.reason.contains("too deep") }) {
            return [ContractDiff.Change(role: name, pointer: deep.pointer, verdict: .possiblyBreaking, reason: deep.reason)]
        }
        let oldDoc: SchemaDocument
        let newDoc: SchemaDocument
        do {
            oldDoc = try SchemaDocument(old, tag: "old", options: options)
            newDoc = try SchemaDocument(new, tag: "new", options: options)
        } catch {
            return [
                ContractDiff.Change(
                    role: name, pointer: "", verdict: .possiblyBreaking,
                    reason: "a schema does not compile, so the change cannot be classified: \(error)")
            ]
        }
        let (keep, judge) = role == .input ? (oldDoc, newDoc) : (newDoc, oldDoc)
        let deadline = Deadline(seconds: timeLimit)
        let search = WitnessSearch.find(keep: keep, lose: judge, deadline: deadline)
        if !search.witnesses.isEmpty {
            return breaks(role, search.witnesses, keywordChanges)
        }
        var forward = SchemaInclusion(a: keep, b: judge, assertFormat: options.assertFormat)
        forward.deadline = deadline
        if case .unknown(let pointer, let reason) = forward.check([keep.top], in: judge.top) {
            // Look again, trying first the properties on the way to the undecided keyword.
            let focused = WitnessSearch.find(keep: keep, lose: judge, focus: pointer, deadline: deadline)
            if !focused.witnesses.isEmpty { return breaks(role, focused.witnesses, keywordChanges) }
            return [
                ContractDiff.Change(
                    role: name, pointer: pointer, verdict: .possiblyBreaking,
                    reason: "\(reason) (no separating instance among \(search.tried + focused.tried) candidates)")
            ]
        }
        var backward = SchemaInclusion(a: judge, b: keep, assertFormat: options.assertFormat)
        backward.deadline = deadline
        if backward.check([judge.top], in: keep.top).isProven {
            let n = keywordChanges.count
            return [
                ContractDiff.Change(
                    role: name, pointer: "", verdict: .noChangeInMeaning,
                    reason: "accepts exactly the same instances"
                        + (n > 0 ? " (\(n) keyword difference\(n == 1 ? "" : "s"))" : ""))
            ]
        }
        if keywordChanges.isEmpty {
            let more = role == .input ? "accepts more instances than before" : "accepts fewer instances than before"
            return [ContractDiff.Change(role: name, pointer: "", verdict: .compatible, reason: more)]
        }
        return keywordChanges.map {
            ContractDiff.Change(role: $0.role, pointer: $0.pointer, verdict: .compatible, reason: $0.reason)
        }
    }

    /// One breaking change per witness, located at the keyword that rejects it and described by
    /// the keyword difference there when there is one.
    static func breaks(
        _ role: ContractDiff.Role, _ witnesses: [WitnessSearch.Witness], _ keywordChanges: [ContractDiff.Change]
    ) -> [ContractDiff.Change] {
        var out: [ContractDiff.Change] = []
        var pointers: Set<String> = []
        for w in witnesses {
            let location = w.error.keywordLocation
            let match = keywordChanges.filter { location == $0.pointer || location.hasPrefix($0.pointer + "/") }
                .max { $0.pointer.count < $1.pointer.count }
            let pointer = match?.pointer ?? location
            guard pointers.insert(pointer).inserted else { continue }
            let side = role == .input ? "the new schema rejects it" : "the old schema rejected it"
            out.append(
                ContractDiff.Change(
                    role: role.rawValue, pointer: pointer, verdict: .breaking,
                    reason: match?.reason ?? "\(side): \(w.error.message)", witness: w.instance))
        }
        return out
    }
}
