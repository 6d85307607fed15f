/// "Did you mean …?" for a name nothing answers to (an activity no worker serves, a mistyped
/// subcommand): the known names close to it.
public enum NameSuggestions {
    /// Known names within edit distance 2 of `name`, or sharing its dotted prefix
    /// (`greet.` for `greet.helo`), closest first, at most `limit`; never `name` itself.
    public static func suggestions(for name: String, among known: some Sequence<String>, limit: Int = 3) -> [String] {
        let target = Array(name.unicodeScalars)
        let prefix = name.split(separator: ".", omittingEmptySubsequences: false).dropLast().joined(separator: ".")
        var scored: [(name: String, distance: Int)] = []
        for candidate in Set(known) where candidate != name {
            let distance = editDistance(target, Array(candidate.unicodeScalars), limit: 2)
            let sharesPrefix = !prefix.isEmpty && candidate.hasPrefix(prefix + ".")
            if distance <= 2 || sharesPrefix { scored.append((candidate, distance)) }
        }
        return scored.sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }.prefix(limit).map(\.name)
    }

    /// Levenshtein distance, or `limit + 1` once it is certainly above `limit` (names may be long;
    /// the cut keeps the work small when they differ a lot).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            if current.min()! > limit { return limit + 1 }
            previous = current
        }
        return min(previous[b.count], limit + 1)
    }
}
