/// A pattern compiled to a Thompson NFA and run by simulating every thread at once (the way
/// RE2 and Rust's `regex` do): time O(text length × program size), whatever the pattern, so no
/// input can make a `pattern` stall a validation.
///
/// Only "is there a match" is computed (JSON Schema needs nothing more), so threads carry no
/// captures and their priority does not matter.
struct RegexProgram: Sendable {
    enum Instruction: Sendable {
        /// Consume this scalar.
        case scalar(UInt32)
        /// Consume a scalar in `sets[index]`.
        case set(Int)
        /// Continue at both.
        case split(Int, Int)
        case jump(Int)
        /// Continue at the next instruction if the assertion holds here.
        case assert(RegexAssertion)
        case match
    }

    struct TooLarge: Error {}

    private(set) var instructions: [Instruction] = []
    private(set) var sets: [ScalarSet] = []
    /// `sets` restricted to ASCII, for the common case.
    private(set) var asciiBits: [ASCIIBits] = []
    /// True when every thread starts with `^`: no need to try later start positions.
    private(set) var anchoredAtStart = false

    /// - Throws: ``TooLarge`` past ``SchemaLimits/maximumPatternProgramSize`` instructions.
    init(_ node: RegexNode) throws(TooLarge) {
        try emit(node)
        append(.match)
        if case .assert(.start) = instructions[0] { anchoredAtStart = true }
    }

    private mutating func append(_ instruction: Instruction) {
        instructions.append(instruction)
    }

    private mutating func emit(_ node: RegexNode) throws(TooLarge) {
        guard instructions.count < SchemaLimits.maximumPatternProgramSize else { throw TooLarge() }
        switch node {
        case .empty: break
        case .scalar(let v): append(.scalar(v))
        case .set(let set):
            sets.append(set)
            asciiBits.append(ASCIIBits(set))
            append(.set(sets.count - 1))
        case .assertion(let a): append(.assert(a))
        case .concat(let items):
            for item in items { try emit(item) }
        case .alternation(let alternatives):
            var jumps: [Int] = []
            for (k, alternative) in alternatives.enumerated() {
                guard k < alternatives.count - 1 else {
                    try emit(alternative)
                    break
                }
                let split = instructions.count
                append(.split(split + 1, -1))
                try emit(alternative)
                jumps.append(instructions.count)
                append(.jump(-1))
                instructions[split] = .split(split + 1, instructions.count)
            }
            for j in jumps { instructions[j] = .jump(instructions.count) }
        case .repetition(let body, let low, let high):
            for _ in 0..<low { try emit(body) }
            if let high {
                var splits: [Int] = []
                for _ in low..<high {
                    splits.append(instructions.count)
                    append(.split(instructions.count + 1, -1))
                    try emit(body)
                }
                for s in splits { instructions[s] = .split(s + 1, instructions.count) }
            } else {
                let loop = instructions.count
                append(.split(loop + 1, -1))
                try emit(body)
                append(.jump(loop))
                instructions[loop] = .split(loop + 1, instructions.count)
            }
        }
    }

    /// True when the pattern matches somewhere in `text`.
    func matches(_ text: String) -> Bool {
        let n = instructions.count
        // One scratch allocation (on the stack when small): two thread lists and the closure stack.
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 8 * n + 2) { buffer in
            buffer.initialize(repeating: 0)
            let base = buffer.baseAddress!
            var current = ThreadList(base, capacity: n)
            var next = ThreadList(base + 3 * n, capacity: n)
            let stack = base + 6 * n
            var scalars = text.unicodeScalars.makeIterator()
            var scalar = scalars.next()?.value
            if add(0, to: &current, previous: nil, next: scalar, stack: stack) { return true }
            while let c = scalar {
                let following = scalars.next()?.value
                for k in 0..<current.consumingCount {
                    let pc = Int(current.consuming[k])
                    let hit: Bool
                    switch instructions[pc] {
                    case .scalar(let v): hit = v == c
                    case .set(let s): hit = c < 128 ? asciiBits[s].contains(c) : sets[s].contains(c)
                    default: hit = false
                    }
                    if hit, add(pc + 1, to: &next, previous: c, next: following, stack: stack) { return true }
                }
                if !anchoredAtStart, add(0, to: &next, previous: c, next: following, stack: stack) { return true }
                swap(&current, &next)
                next.removeAll()
                if current.consumingCount == 0 && anchoredAtStart { return false }
                scalar = following
            }
            return false
        }
    }

    /// Adds the thread at `pc` and everything reachable without consuming input; true on `match`.
    /// `stack` has room for every edge (at most two per instruction).
    private func add(
        _ pc: Int, to list: inout ThreadList, previous: UInt32?, next: UInt32?, stack: UnsafeMutablePointer<Int32>
    ) -> Bool {
        stack[0] = Int32(pc)
        var top = 1
        while top > 0 {
            top -= 1
            let pc = Int(stack[top])
            guard list.insert(pc) else { continue }
            switch instructions[pc] {
            case .jump(let target):
                stack[top] = Int32(target)
                top += 1
            case .split(let a, let b):
                stack[top] = Int32(b)
                stack[top + 1] = Int32(a)
                top += 2
            case .assert(let a) where a.holds(previous: previous, next: next):
                stack[top] = Int32(pc + 1)
                top += 1
            case .match: return true
            case .scalar, .set: list.addConsuming(pc)
            default: break
            }
        }
        return false
    }
}

/// The ASCII part of a ``ScalarSet`` as two words, read without touching the set.
struct ASCIIBits: Sendable {
    var low: UInt64 = 0
    var high: UInt64 = 0

    init(_ set: ScalarSet) {
        for v in UInt32(0)..<128 where set.contains(v) {
            if v < 64 { low |= 1 << UInt64(v) } else { high |= 1 << UInt64(v - 64) }
        }
    }

    @inline(__always)
    func contains(_ v: UInt32) -> Bool {
        v < 64 ? low & (1 << UInt64(v)) != 0 : high & (1 << UInt64(v - 64)) != 0
    }
}

/// A sparse set of instruction indexes over caller-provided memory: O(1) insert, membership
/// and clear. Its consuming members are listed apart (the only ones a step looks at).
struct ThreadList {
    private let index: UnsafeMutablePointer<Int32>
    private let members: UnsafeMutablePointer<Int32>
    let consuming: UnsafeMutablePointer<Int32>
    private var count = 0
    private(set) var consumingCount = 0

    /// Uses `3 * capacity` values from `base`.
    init(_ base: UnsafeMutablePointer<Int32>, capacity: Int) {
        index = base
        members = base + capacity
        consuming = base + 2 * capacity
    }

    /// False when `pc` was already in the set.
    @inline(__always)
    mutating func insert(_ pc: Int) -> Bool {
        let slot = Int(index[pc])
        if slot >= 0 && slot < count && members[slot] == Int32(pc) { return false }
        index[pc] = Int32(count)
        members[count] = Int32(pc)
        count += 1
        return true
    }

    mutating func addConsuming(_ pc: Int) {
        consuming[consumingCount] = Int32(pc)
        consumingCount += 1
    }

    mutating func removeAll() {
        count = 0
        consumingCount = 0
    }
}
