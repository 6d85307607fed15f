import KeelCore

extension FlatProgram {
    /// `required`, `properties`, `patternProperties` and `additionalProperties` in one pass over
    /// the members (the ``Node`` evaluator scans them once per keyword). Each member key matches
    /// at most one name (keys and names are distinct byte strings), so counting the required
    /// names met tells whether all are present.
    func applyObject(_ shape: FlatObject, _ value: UnsafePointer<JSONValue>) -> Bool {
        guard let members = Self.members(value) else { return true }
        var requiredSeen: Int32 = 0
        for m in 0..<members.count {
            let member = members.baseAddress! + m
            let memberValue = JSONObject.valuePointer(member)
            let k = name(matching: member.pointee.key, in: shape.names)
            var declared = false
            if k >= 0 {
                let entry = names[k]
                if entry.required { requiredSeen += 1 }
                if entry.schema >= 0 {
                    declared = true
                    if !run(entry.schema, memberValue) { return false }
                }
            }
            var matched = false
            for p in Int(shape.patterns.start)..<Int(shape.patterns.end) {
                let pattern = patterns[p]
                guard regexes[Int(pattern.regex)].matches(member.pointee.key) else { continue }
                matched = true
                if !run(pattern.schema, memberValue) { return false }
            }
            if shape.additional >= 0 && !declared && !matched && !run(shape.additional, memberValue) {
                return false
            }
        }
        return requiredSeen == shape.required
    }

    /// The items of the array at `value`, in place, or nil when it is not an array.
    ///
    /// Lifetime: the buffer belongs to the instance given to `isValid`, which stays alive and
    /// unchanged for the whole call, so it may outlive `withUnsafeBufferPointer`'s closure until
    /// then. Taken in a scope with no other call, the array bound here costs no retain and
    /// release (binding it around the recursive `run` calls did, for every array visited).
    @inline(__always)
    static func items(_ value: UnsafePointer<JSONValue>) -> UnsafeBufferPointer<JSONValue>? {
        guard case .array(let array) = value.pointee else { return nil }
        return array.withUnsafeBufferPointer { $0 }
    }

    /// The members of the object at `value`, in place, or nil when it is not an object
    /// (lifetime as for ``items(_:)``).
    @inline(__always)
    static func members(_ value: UnsafePointer<JSONValue>) -> UnsafeBufferPointer<JSONObject.Element>? {
        guard case .object(let object) = value.pointee else { return nil }
        return object.withUnsafeMembers { $0 }
    }

    /// The index in `names` of the name with the same UTF-8 bytes as `key`, or -1. The key's
    /// bytes are read in place (a small string's from a copy on the stack); copying the string
    /// into a `var` for `withUTF8` cost a retain and a release per key.
    @inline(__always)
    func name(matching key: String, in range: FlatRange) -> Int {
        if range.start == range.end { return -1 }
        if let found = key.utf8.withContiguousStorageIfAvailable({ name(matching: $0, in: range) }) {
            return found
        }
        return Array(key.utf8).withUnsafeBufferPointer { name(matching: $0, in: range) }
    }

    /// The index in `names` of the name whose bytes are `key`, or -1. Names are told apart by
    /// length and first 8 bytes first (a byte loop per candidate was ~13% of `isValid` on the
    /// fast input).
    private func name(matching key: UnsafeBufferPointer<UInt8>, in range: FlatRange) -> Int {
        let prefix = FlatName.prefix(key)
        for i in Int(range.start)..<Int(range.end) {
            let entry = names[i]
            guard Int(entry.count) == key.count, entry.prefix == prefix else { continue }
            if key.count <= 8
                || memcmpEqual(key.baseAddress! + 8, bytes.baseAddress! + Int(entry.start) + 8, key.count - 8)
            {
                return i
            }
        }
        return -1
    }

    /// Tuple items, `items`, `contains` and `propertyNames`: subschemas applied to parts of the value.
    func applyToParts(_ o: FlatOp, _ value: UnsafePointer<JSONValue>) -> Bool {
        if o.code == .propertyNames {
            guard case .object(let object) = value.pointee else { return true }
            for (key, _) in object where !withUnsafePointer(to: JSONValue.string(key), { run(o.a, $0) }) {
                return false
            }
            return true
        }
        guard let items = Self.items(value) else { return true }
        let base = items.baseAddress
        switch o.code {
        case .prefixItems:
            for i in 0..<min(Int(o.b), items.count) where !run(lists[Int(o.a) + i], base! + i) { return false }
            return true
        case .items:
            if items.count <= Int(o.b) { return true }
            for i in Int(o.b)..<items.count where !run(o.a, base! + i) { return false }
            return true
        default:
            var matched: Int32 = 0
            for i in 0..<items.count where run(o.a, base! + i) {
                matched += 1
                if o.c < 0 && matched >= o.b { return true }
            }
            return matched >= o.b && (o.c < 0 || matched <= o.c)
        }
    }

    /// Exactly one of `lists[a ..< a + b]` holds.
    func applyOneOf(_ o: FlatOp, _ value: UnsafePointer<JSONValue>) -> Bool {
        var count = 0
        for k in Int(o.a)..<Int(o.a + o.b) where run(lists[k], value) {
            count += 1
            if count > 1 { return false }
        }
        return count == 1
    }
}

/// True when the `count` bytes at `a` and `b` are equal.
@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    for i in 0..<count where a[i] != b[i] { return false }
    return true
}
