public import KeelCore

/// Classifies a change between two versions of a schema for one role: the rules of
/// `keel schema diff` (docs/schema.md), also used by the orchestrator to decide whether a worker
/// may change a name's owned contract (docs/security.md, "Owned contracts").
///
/// The verdict is decided by what the schemas accept (issue 16). An **input** schema is what
/// callers send: the change breaks callers when some instance the old schema accepts is rejected
/// by the new one. An **output** schema is what consumers read: the change breaks consumers when
/// some instance the new schema accepts was rejected by the old one. Every ``Verdict/breaking``
/// change carries such an instance (``Change/witness``), confirmed by the validator. Where
/// inclusion cannot be decided and no witness is found, the verdict is
/// ``Verdict/possiblyBreaking``, never compatible; ``Change/breaking`` is true for both, so the
/// orchestrator refuses both (the safe side).
public struct ContractDiff {
    /// Which side of a contract a schema describes.
    public enum Role: String, Sendable { case input, output }
    enum Effect { case narrows, widens, changes, adds }

    /// What a change means for callers (input) or consumers (output).
    public enum Verdict: String, Sendable, CaseIterable {
        /// An instance separates the two schemas the harmful way; ``Change/witness`` is one.
        case breaking
        /// Not decided, and no separating instance found within the search bound.
        case possiblyBreaking = "possibly-breaking"
        /// Proven: every instance that mattered before is treated as before.
        case compatible
        /// Proven: both schemas accept exactly the same instances (a refactor, a description).
        case noChangeInMeaning = "no-change-in-meaning"
    }

    /// One difference between the old and the new schema.
    public struct Change: Equatable, Sendable {
        /// `input` or `output`.
        public var role: String
        /// JSON Pointer into the schema where the change is (empty for the root).
        public var pointer: String
        /// The verdict on this change.
        public var verdict: Verdict
        /// One phrase saying what changed, e.g. `property "b" is now required`.
        public var reason: String
        /// For a breaking change: an instance the old schema accepts and the new one rejects
        /// (input), or the new one accepts and the old one rejected (output).
        public var witness: JSONValue?

        /// True when the change breaks, or may break, callers (input) or consumers (output):
        /// ``Verdict/breaking`` or ``Verdict/possiblyBreaking``.
        public var breaking: Bool {
            get { verdict == .breaking || verdict == .possiblyBreaking }
            set { verdict = newValue ? .breaking : .compatible }
        }

        public init(role: String, pointer: String, breaking: Bool, reason: String) {
            self.init(role: role, pointer: pointer, verdict: breaking ? .breaking : .compatible, reason: reason)
        }

        public init(role: String, pointer: String, verdict: Verdict, reason: String, witness: JSONValue? = nil) {
            self.role = role
            self.pointer = pointer
            self.verdict = verdict
            self.reason = reason
            self.witness = witness
        }

        /// `{role, pointer, verdict, breaking, reason, witness?}`, as `keel schema diff --format json`
        /// prints and error data carries.
        public var json: JSONValue {
            var o: JSONObject = [
                "role": .string(role), "pointer": .string(pointer), "breaking": .bool(breaking),
                "verdict": .string(verdict.rawValue), "reason": .string(reason),
            ]
            if let witness { o["witness"] = witness }
            return .object(o)
        }
    }

    let role: Role
    let oldRoot: JSONValue
    let newRoot: JSONValue
    private(set) var changes: [Change] = []
    private var visited: Set<String> = []
    /// Subschemas being compared one inside another (bounded: the orchestrator compares schemas
    /// a worker sent, and a deep recursion must not exhaust its stack).
    private var depth = 0

    /// Nesting beyond which two differing subschemas are reported as one breaking change.
    public static let maximumDepth = 128

    /// When the definitions are unchanged, equal subschemas are equal all the way down.
    private let definitionsEqual: Bool

    init(role: Role, old: JSONValue, new: JSONValue) {
        self.role = role
        self.oldRoot = old
        self.newRoot = new
        definitionsEqual = old["$defs"] == new["$defs"] && old["definitions"] == new["definitions"]
    }

    /// The changes from `old` to `new`, a schema of `role`, in a stable order: the breaking ones
    /// with witnesses; else why it may break; else the keyword differences, compatible; else
    /// one "no change in meaning". Empty when the schemas are equal.
    public static func compare(role: Role, old: JSONValue, new: JSONValue) -> [Change] {
        compare(role: role, old: old, new: new, options: .init())
    }

    /// As ``compare(role:old:new:)``, with validator options (dialect default, asserted formats).
    public static func compare(role: Role, old: JSONValue, new: JSONValue, options: ValidatorOptions) -> [Change] {
        if old == new { return [] }
        return SemanticDiff.classify(role: role, old: old, new: new, keywordChanges: keywordChanges(role, old, new),
            options: options)
    }

    /// The keyword-by-keyword differences (each labelled as the old keyword rules would).
    static func keywordChanges(_ role: Role, _ old: JSONValue, _ new: JSONValue) -> [Change] {
        var d = ContractDiff(role: role, old: old, new: new)
        d.diff(old, new, "")
        return d.changes
    }

    /// The changes from one contract (input and output schema) to another: input changes first.
    public static func compare(
        oldInput: JSONValue, oldOutput: JSONValue, newInput: JSONValue, newOutput: JSONValue
    ) -> [Change] {
        compare(role: .input, old: oldInput, new: newInput) + compare(role: .output, old: oldOutput, new: newOutput)
    }

    mutating func record(_ pointer: String, _ effect: Effect, _ reason: String) {
        let breaking: Bool
        switch (role, effect) {
        case (_, .changes): breaking = true
        case (_, .adds): breaking = false
        case (.input, .narrows), (.output, .widens): breaking = true
        default: breaking = false
        }
        changes.append(Change(role: role.rawValue, pointer: pointer, breaking: breaking, reason: reason))
    }

    mutating func diff(_ old: JSONValue, _ new: JSONValue, _ p: String) {
        if old == new && (definitionsEqual || !JSONWriter.string(old).contains("\"$ref\"")) { return }
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            record(p, .changes, "changed more than \(Self.maximumDepth) subschemas deep, too deep to classify")
            return
        }
        if case .bool(let a) = old, case .bool(let b) = new {
            record(p, a ? .narrows : .widens, "schema changed from \(a) to \(b)")
            return
        }
        let o = old.objectValue ?? (old == .bool(false) ? ["not": [:]] : [:])
        let n = new.objectValue ?? (new == .bool(false) ? ["not": [:]] : [:])
        // Local $refs: follow them (once per pair) so a change inside $defs is classified.
        if let ro = o["$ref"]?.stringValue, let rn = n["$ref"]?.stringValue, ro == rn, ro.hasPrefix("#") {
            if !visited.contains(ro) {
                visited.insert(ro)
                if let to = resolve(ro, in: oldRoot), let tn = resolve(rn, in: newRoot) { diff(to, tn, p + "/$ref") }
            }
        } else if o["$ref"] != n["$ref"] {
            record(
                p + "/$ref", .changes,
                "$ref changed from \(o["$ref"].map(describe) ?? "none") to \(n["$ref"].map(describe) ?? "none")")
        }
        diffType(o["type"], n["type"], p)
        diffSet("enum", o["enum"]?.arrayValue, n["enum"]?.arrayValue, p)
        if o["const"] != n["const"] {
            if o["const"] == nil {
                record(p + "/const", .narrows, "const \(describe(n["const"]!)) added")
            } else if n["const"] == nil {
                record(p + "/const", .widens, "const removed")
            } else {
                record(
                    p + "/const", .changes, "const changed from \(describe(o["const"]!)) to \(describe(n["const"]!))")
            }
        }
        for k in ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"] {
            diffBound(k, o[k], n[k], p, lower: true)
        }
        for k in ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"] {
            diffBound(k, o[k], n[k], p, lower: false)
        }
        for k in [
            "pattern", "format", "multipleOf", "uniqueItems", "propertyNames", "contains", "not", "if", "then", "else",
            "dependentRequired", "dependentSchemas",
        ]
        where o[k] != n[k] {
            if o[k] == nil {
                record(p + "/" + k, .narrows, "\(k) \(describe(n[k]!)) added")
            } else if n[k] == nil {
                record(p + "/" + k, .widens, "\(k) removed")
            } else {
                record(p + "/" + k, .changes, "\(k) changed from \(describe(o[k]!)) to \(describe(n[k]!))")
            }
        }
        // required
        let ro = Set(o["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let rn = Set(n["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for name in rn.subtracting(ro).sorted() {
            record(p + "/required", .narrows, "property \"\(name)\" is now required")
        }
        for name in ro.subtracting(rn).sorted() {
            record(p + "/required", .widens, "property \"\(name)\" is no longer required")
        }
        // properties
        let po = o["properties"]?.objectValue ?? [:]
        let pn = n["properties"]?.objectValue ?? [:]
        for name in Set(po.keys).union(pn.keys).sorted() {
            let q = p + "/properties/" + JSONPointer.escape(name)
            switch (po[name], pn[name]) {
            case (let a?, let b?): diff(a, b, q)
            case (nil, _?): record(q, .adds, "property \"\(name)\" added")
            case (_?, nil):
                if n["additionalProperties"] == .bool(false) {
                    record(q, .narrows, "property \"\(name)\" removed (and additional properties are not allowed)")
                } else {
                    record(q, .widens, "property \"\(name)\" removed")
                }
            default: break
            }
        }
        switch (o["additionalProperties"], n["additionalProperties"]) {
        case (let a?, let b?): diff(a, b, p + "/additionalProperties")
        case (nil, let b?) where b != .bool(true):
            record(p + "/additionalProperties", .narrows, "additionalProperties \(describe(b)) added")
        case (let a?, nil) where a != .bool(true):
            record(p + "/additionalProperties", .widens, "additionalProperties \(describe(a)) removed")
        default: break
        }
        for k in ["items", "additionalItems", "unevaluatedProperties", "unevaluatedItems"] {
            switch (o[k], n[k]) {
            case (let a?, let b?) where a.arrayValue == nil && b.arrayValue == nil: diff(a, b, p + "/" + k)
            case (nil, let b?): record(p + "/" + k, .narrows, "\(k) \(describe(b)) added")
            case (let a?, nil): record(p + "/" + k, .widens, "\(k) \(describe(a)) removed")
            case (let a?, let b?) where a != b: record(p + "/" + k, .changes, "\(k) changed")
            default: break
            }
        }
        for k in ["prefixItems", "allOf", "anyOf", "oneOf"] {
            let a = o[k]?.arrayValue
            let b = n[k]?.arrayValue
            if a == b { continue }
            if let a, let b, a.count == b.count, k == "prefixItems" || k == "allOf" {
                for i in 0..<a.count { diff(a[i], b[i], p + "/\(k)/\(i)") }
            } else if a == nil {
                record(p + "/" + k, .narrows, "\(k) added")
            } else if b == nil {
                record(p + "/" + k, .widens, "\(k) removed")
            } else {
                record(p + "/" + k, .changes, "\(k) changed")
            }
        }
        // $defs/definitions matter only where referenced (followed above), not on their own.
    }

    mutating func diffType(_ old: JSONValue?, _ new: JSONValue?, _ p: String) {
        func set(_ v: JSONValue?) -> Set<String>? {
            guard let v else { return nil }
            var s = Set((v.arrayValue ?? [v]).compactMap(\.stringValue))
            if s.contains("number") { s.insert("integer") }
            return s
        }
        let a = set(old)
        let b = set(new)
        if a == b { return }
        let names = { (s: Set<String>?) in s.map { $0.sorted().joined(separator: ", ") } ?? "any" }
        let reason = "type changed from \(names(a)) to \(names(b))"
        switch (a, b) {
        case (nil, _): record(p + "/type", .narrows, reason)
        case (_, nil): record(p + "/type", .widens, reason)
        case (let a?, let b?) where b.isSubset(of: a): record(p + "/type", .narrows, reason)
        case (let a?, let b?) where b.isSuperset(of: a): record(p + "/type", .widens, reason)
        default: record(p + "/type", .changes, reason)
        }
    }

    mutating func diffSet(_ key: String, _ old: [JSONValue]?, _ new: [JSONValue]?, _ p: String) {
        switch (old, new) {
        case (nil, nil): return
        case (nil, _?): record(p + "/" + key, .narrows, "\(key) added")
        case (_?, nil): record(p + "/" + key, .widens, "\(key) removed")
        case (let a?, let b?):
            for v in a where !b.contains(v) {
                record(p + "/" + key, .narrows, "value \(describe(v)) removed from \(key)")
            }
            for v in b where !a.contains(v) { record(p + "/" + key, .widens, "value \(describe(v)) added to \(key)") }
        }
    }

    mutating func diffBound(_ key: String, _ old: JSONValue?, _ new: JSONValue?, _ p: String, lower: Bool) {
        if old == new { return }
        let q = p + "/" + key
        switch (old?.numberValue, new?.numberValue) {
        case (nil, let b?): record(q, .narrows, "\(key) \(b) added")
        case (let a?, nil): record(q, .widens, "\(key) \(a) removed")
        case (let a?, let b?):
            let tighter = lower ? b > a : b < a
            record(
                q, tighter ? .narrows : .widens,
                "\(key) \((lower == tighter) ? "raised" : "lowered") from \(a) to \(b)"
            )
        default: break
        }
    }

    /// The target of a local `$ref` (`#/$defs/x`) inside `root`.
    func resolve(_ ref: String, in root: JSONValue) -> JSONValue? {
        JSONPointer.resolve(String(ref.dropFirst()), in: root)
    }
}
