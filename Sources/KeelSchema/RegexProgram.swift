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
        var current = ThreadList(capacity: instructions.count)
        var next = ThreadList(capacity: instructions.count)
        var stack: [Int] = []
        var scalars = text.unicodeScalars.makeIterator()
        var scalar = scalars.next()?.value
        if add(0, to: &current, previous: nil, next: scalar, stack: &stack) { return true }
        while let c = scalar {
            let following = scalars.next()?.value
            for pc in current.members {
                switch instructions[pc] {
                case .scalar(let v) where v == c:
                    if add(pc + 1, to: &next, previous: c, next: following, stack: &stack) { return true }
                case .set(let k) where sets[k].contains(c):
                    if add(pc + 1, to: &next, previous: c, next: following, stack: &stack) { return true }
                default: break
                }
            }
            if !anchoredAtStart, add(0, to: &next, previous: c, next: following, stack: &stack) { return true }
            swap(&current, &next)
            next.removeAll()
            if current.members.isEmpty && anchoredAtStart { return false }
            scalar = following
        }
        return false
    }

    /// Adds the thread at `pc` and everything reachable without consuming input; true on `match`.
    private func add(
        _ pc: Int, to list: inout ThreadList, previous: UInt32?, next: UInt32?, stack: inout [Int]
    ) -> Bool {
        stack.append(pc)
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch instructions[pc] {
            case .jump(let target): stack.append(target)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .assert(let a) where a.holds(previous: previous, next: next): stack.append(pc + 1)
            case .match:
                stack.removeAll(keepingCapacity: true)
                return true
            default: break
            }
        }
        return false
    }
}

/// A sparse set of instruction indexes: O(1) insert, membership and clear; iteration in
/// insertion order.
struct ThreadList {
    private(set) var members: [Int] = []
    private var index: [Int]

    init(capacity: Int) {
        index = Array(repeating: 0, count: capacity)
        members.reserveCapacity(capacity)
    }

    /// False when `pc` was already in the set.
    mutating func insert(_ pc: Int) -> Bool {
        let slot = index[pc]
        if slot < members.count && members[slot] == pc { return false }
        index[pc] = members.count
        members.append(pc)
        return true
    }

    mutating func removeAll() { members.removeAll(keepingCapacity: true) }
}
