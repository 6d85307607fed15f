import KeelCore

extension FlatProgram {
    /// True when `instance` is valid: the same answer as the ``Node`` evaluator's `isValid`.
    func isValid(_ instance: JSONValue) -> Bool {
        withUnsafePointer(to: instance) { run(root, $0) }
    }

    /// Applies subschema `schema` to the value at `value`, stopping at the first failure.
    /// Values are passed by pointer, read in place: passing `JSONValue`s retained their payloads.
    ///
    /// Inlined into every caller: the `type` mask and a subschema with no other op (`{"type":
    /// "string"}`, the most common kind) cost no call; only a subschema with ops calls `runOps`.
    @inline(__always)
    func run(_ schema: Int32, _ value: UnsafePointer<JSONValue>) -> Bool {
        let subschema = schemas[Int(schema)]
        guard subschema.types.matches(value) else { return false }
        return subschema.ops.start == subschema.ops.end || runOps(subschema.ops, value)
    }

    /// Applies `ops[range]` to the value at `value`, stopping at the first failure.
    private func runOps(_ range: FlatRange, _ value: UnsafePointer<JSONValue>) -> Bool {
        var i = Int(range.start)
        let end = Int(range.end)
        while i < end {
            if !step(ops.baseAddress! + i, value) { return false }
            i += 1
        }
        return true
    }

    /// Applies one op: one `switch`, so one indirect jump per op. Applicators sit on the
    /// recursive path in functions of their own. The frame this adds to the recursive path is
    /// bounded: flat paths are at most 128 deep.
    @inline(__always)
    private func step(_ op: UnsafePointer<FlatOp>, _ value: UnsafePointer<JSONValue>) -> Bool {
        let o = op.pointee
        switch o.code {
        case .object: return applyObject(objects[Int(o.a)], value)
        case .prefixItems, .items, .contains, .propertyNames: return applyToParts(o, value)
        case .allOf:
            for k in Int(o.a)..<Int(o.a + o.b) where !run(lists[k], value) { return false }
            return true
        case .anyOf:
            for k in Int(o.a)..<Int(o.a + o.b) where run(lists[k], value) { return true }
            return false
        case .oneOf: return applyOneOf(o, value)
        case .not: return !run(o.a, value)
        case .conditional:
            if o.b < 0 && o.c < 0 { return true }
            if run(o.a, value) { return o.b < 0 || run(o.b, value) }
            return o.c < 0 || run(o.c, value)
        case .apply: return run(o.a, value)
        case .enumStrings:
            guard case .string(let s) = value.pointee else { return false }
            return name(matching: s, in: FlatRange(start: o.a, end: o.a + o.b)) >= 0
        case .fail: return false
        case .enumScan:
            for k in Int(o.a)..<Int(o.a + o.b) where values[k] == value.pointee { return true }
            return false
        case .enumSet: return valueSets[Int(o.c)].contains(value.pointee)
        case .const: return values[Int(o.a)] == value.pointee
        case .multipleOf, .maximum, .exclusiveMaximum, .minimum, .exclusiveMinimum:
            guard case .number(let n) = value.pointee else { return true }
            return checkNumber(o, n)
        case .maxLength, .minLength:
            guard case .string(let s) = value.pointee else { return true }
            return checkLength(o, s)
        case .pattern:
            guard case .string(let s) = value.pointee else { return true }
            return regexes[Int(o.a)].matches(s)
        case .format:
            guard case .string(let s) = value.pointee else { return true }
            return formats[Int(o.a)].check(s)
        case .maxItems:
            guard let items = Self.items(value) else { return true }
            return items.count <= o.n
        case .minItems:
            guard let items = Self.items(value) else { return true }
            return items.count >= o.n
        case .uniqueItems:
            guard case .array(let a) = value.pointee else { return true }
            return a.firstEqualPair == nil
        case .maxProperties:
            guard let members = Self.members(value) else { return true }
            return members.count <= o.n
        case .minProperties:
            guard let members = Self.members(value) else { return true }
            return members.count >= o.n
        }
    }

    /// `minimum`…`multipleOf`: on scaled integers when both numbers have compact forms, else exactly.
    private func checkNumber(_ o: FlatOp, _ n: JSONNumber) -> Bool {
        let order: Int
        // As `Arithmetic.compare`/`isMultiple`, with the bound's compact form computed once.
        if o.c == 1, let x = n.compactDecimal, let (v, b) = Arithmetic.aligned(x, (o.n, Int(o.b))),
            o.code != .multipleOf || b != 0
        {
            if o.code == .multipleOf { return v.remainderReportingOverflow(dividingBy: b).partialValue == 0 }
            order = v < b ? -1 : v == b ? 0 : 1
        } else {
            let bound = numbers[Int(o.a)]
            if o.code == .multipleOf { return Arithmetic.isMultiple(n, of: bound) }
            order = Arithmetic.compare(n, bound)
        }
        switch o.code {
        case .maximum: return order <= 0
        case .exclusiveMaximum: return order < 0
        case .minimum: return order >= 0
        default: return order > 0
        }
    }

    /// `minLength`/`maxLength` count code points. The UTF-8 length bounds the count from above, so
    /// a string of at most `maxLength` bytes, or of fewer than `minLength`, needs no count.
    private func checkLength(_ o: FlatOp, _ s: String) -> Bool {
        let bytes = s.utf8.count
        if o.code == .maxLength { return bytes <= o.n || scalarCount(s) <= o.n }
        return bytes >= o.n && scalarCount(s) >= o.n
    }
}
