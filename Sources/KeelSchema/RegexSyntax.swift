/// The syntax tree of an ECMA-262 pattern (with `u` semantics) that a finite automaton can run:
/// no backreferences, no lookaround. ``RegexParser`` builds it; ``RegexProgram`` compiles it.
///
/// Capture groups and greedy/lazy quantifiers only change what a match captures, never whether
/// there is a match, so the tree keeps neither.
indirect enum RegexNode {
    case empty
    case scalar(UInt32)
    case set(ScalarSet)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?)
    case assertion(RegexAssertion)
}

/// The zero-width assertions of a pattern without the `m` flag.
enum RegexAssertion {
    /// `^`: the start of the input.
    case start
    /// `$`: the end of the input.
    case end
    /// `\b`: between an ASCII word character and a non-word one (or an end).
    case wordBoundary
    /// `\B`
    case notWordBoundary

    func holds(previous: UInt32?, next: UInt32?) -> Bool {
        switch self {
        case .start: previous == nil
        case .end: next == nil
        case .wordBoundary: ScalarSet.isWord(previous) != ScalarSet.isWord(next)
        case .notWordBoundary: ScalarSet.isWord(previous) == ScalarSet.isWord(next)
        }
    }
}

/// A set of Unicode scalars: sorted disjoint ranges, plus (for `\p{…}`) a predicate that asks
/// Swift's `Regex` about one scalar at a time — constant time per scalar, so still linear.
struct ScalarSet: @unchecked Sendable {
    /// Sorted, disjoint, non-adjacent ranges of scalar values.
    private(set) var ranges: [ClosedRange<UInt32>]
    /// Matches a one-scalar string when the scalar has the listed Unicode properties.
    var property: Regex<Substring>?
    var negated = false

    init(_ ranges: [ClosedRange<UInt32>], property: Regex<Substring>? = nil, negated: Bool = false) {
        self.ranges = Self.normalized(ranges)
        self.property = property
        self.negated = negated
    }

    func contains(_ v: UInt32) -> Bool {
        var lo = 0
        var hi = ranges.count
        var found = false
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < v {
                lo = mid + 1
            } else if ranges[mid].lowerBound > v {
                hi = mid
            } else {
                found = true
                break
            }
        }
        if !found, let property, let scalar = Unicode.Scalar(v) {
            found = (try? property.wholeMatch(in: String(Character(scalar)))) != nil
        }
        return found != negated
    }

    /// The ranges not in `ranges` (over every code point).
    static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in normalized(ranges) {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return out
    }

    static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    /// ECMA-262 WhiteSpace and LineTerminator (with U+FEFF, without U+0085).
    static let space: [ClosedRange<UInt32>] = [
        0x9...0xD, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
        0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF,
    ]
    /// `.`: anything but a line terminator.
    static let dot = ScalarSet(complement([0xA...0xA, 0xD...0xD, 0x2028...0x2029]))

    static func isWord(_ v: UInt32?) -> Bool {
        guard let v else { return false }
        return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || v == 0x5F || (0x61...0x7A).contains(v)
    }
}
