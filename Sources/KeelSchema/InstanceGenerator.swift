import KeelCore

/// Candidate instances for telling two schemas apart (issue 16): for each instance position,
/// values at and around what the schemas there say — each `enum` member and `const`, bounds
/// and their neighbours, `multipleOf` and non-multiples, strings of length max+1 and min−1,
/// arrays one item too short or long, objects with each required property missing, each
/// property set to each of its candidates, and an extra property — built on a base value that
/// the *preferred* document (the side whose instances must be kept) accepts where possible.
///
/// Nothing here decides a verdict: every candidate is run through both validators first.
struct InstanceGenerator {
    typealias Located = SchemaDocument.Located

    /// The document whose acceptance is preferred when choosing base values.
    let preferred: SchemaDocument?
    /// Candidates per position.
    var perPosition = 48
    /// Nesting of instances generated.
    var maximumDepth = 12
    /// Work left (positions expanded); generation stops growing when it runs out.
    var budget = 600
    /// Property names to try first (those on the path to a keyword the inclusion check could not decide).
    var focus: Set<String> = []
    /// When generation stops growing and stops ordering values by validation.
    var deadline: Deadline = .never

    init(preferring preferred: SchemaDocument?) {
        self.preferred = preferred
    }

    /// Candidates for the position that `schemas` (from either document) all describe.
    mutating func values(_ schemas: [Located], depth: Int = 0) -> [JSONValue] {
        budget -= 1
        if deadline.passed { budget = 0 }
        let objects = gather(schemas)
        var out = Candidates(limit: depth == 0 ? perPosition * 8 : depth == 1 ? perPosition * 2 : perPosition)
        // Values the schemas name come first: they are the likeliest to be valid.
        for o in objects {
            for k in ["const", "default"] { if let v = o.value[k] { out.add(v) } }
            for k in ["enum", "examples"] { for v in o.value[k]?.arrayValue ?? [] { out.add(v) } }
        }
        var types = Set(objects.flatMap { o in (o.value["type"].map { $0.arrayValue ?? [$0] } ?? []).compactMap(\.stringValue) })
        if types.isEmpty { types = ["null", "boolean", "number", "string", "array", "object"] }
        if types.contains("integer") || types.contains("number") { numbers(objects, integer: !types.contains("number"), &out) }
        if types.contains("string") { strings(objects, &out) }
        let deeper = depth < maximumDepth && budget > 0
        if types.contains("object") && deeper { objectValues(objects, depth, &out) }
        if types.contains("array") && deeper { arrayValues(objects, depth, &out) }
        for v: JSONValue in [.null, false, true, 0, 1, -1, 0.5, "", "a", [], [:]] { out.add(v) }
        return preferFirst(out.values, schemas)
    }

    // MARK: Gathering

    /// The schema objects that apply at the position, through `$ref` and the applicators (bounded).
    func gather(_ schemas: [Located]) -> [Located] {
        var out: [Located] = []
        var queue = schemas
        var seen: Set<String> = []
        while let s = queue.first, out.count < 32 {
            queue.removeFirst()
            guard s.object != nil, seen.insert(s.pointer + "@" + s.document.uri).inserted else { continue }
            out.append(s)
            if let t = s.document.resolve(s) { queue.append(t) }
            for k in ["allOf", "anyOf", "oneOf"] { queue += s.elements(k) }
            for k in ["not", "if", "then", "else"] { if let c = s.child(k) { queue.append(c) } }
            for k in ["dependentSchemas", "dependencies"] {
                for name in s.object?[k]?.objectValue?.keys ?? [] {
                    if let d = s.member(k, name), d.object != nil { queue.append(d) }
                }
            }
        }
        return out
    }

    /// Orders `values` for use as parts of larger candidates: first a base value both sides
    /// accept (or at least the preferred side), then the values the preferred side accepts and
    /// the other rejects (they make witnesses one level up), then the rest.
    private func preferFirst(_ values: [JSONValue], _ schemas: [Located]) -> [JSONValue] {
        if deadline.passed { return values }
        let mine = schemas.filter { $0.document === preferred }
        let theirs = schemas.filter { $0.document !== preferred }
        func accepted(_ v: JSONValue, by list: [Located]) -> Bool { list.allSatisfy { $0.document.accepts(v, at: $0) != false } }
        var both: [JSONValue] = []
        var separating: [JSONValue] = []
        var rest: [JSONValue] = []
        for v in values {
            guard accepted(v, by: mine) else {
                rest.append(v)
                continue
            }
            if accepted(v, by: theirs) { both.append(v) } else { separating.append(v) }
        }
        if both.isEmpty, !separating.isEmpty { both.append(separating.removeFirst()) }
        return both.prefix(1) + separating + both.dropFirst() + rest
    }

    // MARK: Scalars

    private func numbers(_ objects: [Located], integer: Bool, _ out: inout Candidates) {
        var bounds: [JSONNumber] = []
        for o in objects {
            for k in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
                if let n = o.value[k]?.numberValue { bounds.append(n) }
            }
        }
        for b in bounds {
            out.add(.number(b))
            if let i = b.int64Value, b.isInteger, i > Int64.min + 2, i < Int64.max - 2 {
                for d: Int64 in [-1, 1, -2, 2] { out.add(JSONValue(i + d)) }
            } else {
                let d = b.doubleValue
                for x in [d.rounded(.down), d.rounded(.up), d - 1, d + 1] where x.isFinite { out.add(Self.number(x)) }
            }
            if !integer { for x in [b.doubleValue - 0.5, b.doubleValue + 0.5] where x.isFinite { out.add(JSONValue(x)) } }
        }
        for o in objects {
            guard let m = o.value["multipleOf"]?.numberValue else { continue }
            let d = m.doubleValue
            out.add(.number(m))
            for x in [2 * d, 3 * d, 6 * d, d / 2, 1.5 * d, d + 1] where x.isFinite { out.add(Self.number(x)) }
            for b in bounds where d > 0 {
                let k = (b.doubleValue / d).rounded(.down)
                for x in [k * d, (k + 1) * d, (k - 1) * d] where x.isFinite { out.add(Self.number(x)) }
            }
        }
        for x: JSONValue in [0, 1.5, -1, 1, 0.5, 2, 10, 100, 0.1, -0.5, 1_000_000] { out.add(x) }
    }

    /// An integral double as an integer JSON number; others as they are.
    static func number(_ x: Double) -> JSONValue {
        if x == x.rounded(), abs(x) < 9e15 { return JSONValue(Int64(x)) }
        return JSONValue(x)
    }

    private func strings(_ objects: [Located], _ out: inout Candidates) {
        out.add("a")  // short first: bases for larger candidates stay small
        var lengths: [Int] = []
        for o in objects {
            for k in ["minLength", "maxLength"] { if let n = ClauseFacts.count(o.value[k]) { lengths.append(n) } }
            if let f = o.value["format"]?.stringValue, let sample = Self.formatSamples[f] { out.add(.string(sample)) }
        }
        // Strings of the lengths that matter, from characters the patterns here accept.
        let patterns = objects.compactMap { o in o.value["pattern"]?.stringValue.map { (o.document, $0) } }
        for (document, pattern) in patterns {
            let shortest = PatternSampler.samples(pattern, extras: [0]).first?.count ?? 0
            // Samples of the lengths that matter too (one open repetition grows one per extra).
            var extras = [0, 2]
            for n in lengths {
                for target in [n - 1, n, n + 1] where target - shortest > 2 && target - shortest <= 4096 {
                    extras.append(target - shortest)
                }
            }
            for sample in PatternSampler.samples(pattern, extras: extras) where document.matches(pattern, sample) == true {
                out.add(.string(sample))
            }
        }
        var alphabet = ["a"]
        if !patterns.isEmpty {
            alphabet = ["a", "0", "A", "_", "-", "x1"].filter { c in
                patterns.allSatisfy { $0.0.matches($0.1, String(repeating: c, count: 3)) != false }
            } + ["a"]
        }
        for n in lengths + [3] {
            for m in [n - 1, n, n + 1] where m >= 0 && m <= 4096 {
                for c in alphabet.prefix(2) {
                    out.add(.string(String(String(repeating: c, count: m).prefix(m))))
                }
            }
        }
        for s: JSONValue in ["a", "", "abc", "A1", "x y", "0"] { out.add(s) }
    }

    static let formatSamples: [String: String] = [
        "date-time": "2026-01-02T03:04:05Z", "date": "2026-01-02", "time": "03:04:05Z", "email": "a@example.com",
        "uuid": "123e4567-e89b-12d3-a456-426614174000", "uri": "https://example.com/a", "ipv4": "192.0.2.1",
        "ipv6": "2001:db8::1", "hostname": "example.com", "duration": "P1D",
    ]

    // MARK: Containers

    private mutating func objectValues(_ objects: [Located], _ depth: Int, _ out: inout Candidates) {
        var names: [String] = []
        var required: [String] = []
        for o in objects {
            for k in o.object?["properties"]?.objectValue?.keys ?? [] where !names.contains(k) { names.append(k) }
            for r in o.value["required"]?.arrayValue ?? [] {
                if let s = r.stringValue, !required.contains(s) { required.append(s) }
            }
        }
        var counts: [Int] = []
        for o in objects {
            for k in ["dependentRequired", "dependentSchemas", "dependencies"] {
                for (key, v) in o.object?[k]?.objectValue ?? [:] {
                    for n in [key] + (v.arrayValue ?? []).compactMap(\.stringValue) where !names.contains(n) { names.append(n) }
                }
            }
            for pattern in o.object?["patternProperties"]?.objectValue?.keys ?? [] {
                if let n = Self.name(matching: pattern), !names.contains(n) { names.append(n) }
            }
            for k in ["minProperties", "maxProperties"] { if let n = ClauseFacts.count(o.value[k]) { counts.append(n) } }
        }
        for r in required where !names.contains(r) { names.append(r) }
        names = Array((names.filter { focus.contains($0) } + names.filter { !focus.contains($0) }).prefix(12))
        var choices: [String: [JSONValue]] = [:]
        for name in names {
            let schemas = objects.flatMap { ClauseFacts(objects: [$0]).propertySchemas(name) }
            choices[name] = Array(values(schemas, depth: depth + 1).prefix(10))
        }
        func object(_ keys: [String]) -> JSONObject {
            JSONObject(keys.compactMap { k in choices[k]?.first.map { (k, $0) } })
        }
        let full = object(names)
        let minimal = object(required)
        out.add(.object(minimal))
        out.add(.object(full))
        for name in names {
            var without = full
            _ = without.removeValue(forKey: name)
            out.add(.object(without))
            for v in (choices[name] ?? []).dropFirst() {
                var a = full
                a[name] = v
                out.add(.object(a))
                var b = minimal
                b[name] = v
                out.add(.object(b))
            }
        }
        let extras = values(objects.compactMap { ClauseFacts.additional(of: $0) }, depth: depth + 1).prefix(3)
        for v in [JSONValue.null, 1] + extras {
            var a = full
            a["extra"] = v
            out.add(.object(a))
        }
        for n in counts {
            for m in [n - 1, n + 1] where m >= 0 && m <= 64 {
                var a = full
                var i = 0
                while a.count < m {
                    a["p\(i)"] = full.first?.value ?? .null
                    i += 1
                }
                out.add(.object(a))
                out.add(.object(JSONObject((0..<m).map { ("p\($0)", JSONValue.null) })))
            }
        }
        out.add([:])
    }

    /// A property name a simple `^literal…` pattern matches (the literal plus "a"), or nil.
    static func name(matching pattern: String) -> String? {
        guard pattern.hasPrefix("^") else { return pattern.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } ? pattern : nil }
        let literal = pattern.dropFirst().prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
        return literal + "a"
    }

    private mutating func arrayValues(_ objects: [Located], _ depth: Int, _ out: inout Candidates) {
        var prefixes: [[Located]] = []
        var rest: [Located] = []
        var lengths: [Int] = []
        for o in objects {
            let parts = ClauseFacts.arrayParts(of: o)
            for (i, p) in parts.prefix.enumerated() {
                if prefixes.count <= i { prefixes.append([]) }
                prefixes[i].append(p)
            }
            if let r = parts.rest { rest.append(r) }
            if let c = o.child("contains") { rest.append(c) }
            for k in ["minItems", "maxItems"] { if let n = ClauseFacts.count(o.value[k]) { lengths.append(n) } }
        }
        let items = Array(values(rest, depth: depth + 1).prefix(8))
        let positions = prefixes.prefix(6).map { Array(values($0, depth: depth + 1).prefix(8)) }
        let filler = items.first ?? .null
        let base: [JSONValue] = positions.map { $0.first ?? filler }
        out.add(.array(base))
        for (i, choices) in positions.enumerated() {
            for v in choices.dropFirst() {
                var a = base
                a[i] = v
                out.add(.array(a))
            }
            out.add(.array(Array(base.prefix(i))))
        }
        for v in items {
            out.add(.array(base + [v]))
            out.add([v])
        }
        out.add(.array(base + [filler, filler]))
        for n in lengths {
            for m in [n - 1, n, n + 1] where m >= 0 && m <= 256 {
                let padded = Array((base + Array(repeating: filler, count: max(0, m - base.count))).prefix(m))
                out.add(.array(padded))
                if m > 1 { out.add(.array((0..<m).map { JSONValue(Int64($0)) })) }
            }
        }
        out.add([])
    }
}

/// A small ordered set of candidate values with a size limit.
struct Candidates {
    let limit: Int
    private(set) var values: [JSONValue] = []
    private var seen: Set<JSONValue> = []

    init(limit: Int) { self.limit = limit }

    mutating func add(_ v: JSONValue) {
        guard values.count < limit, seen.insert(v).inserted else { return }
        values.append(v)
    }
}

extension ClauseFacts {
    /// Facts of schema objects taken as they are (no clause expansion), for the generator.
    init(objects: [Located]) { self.init(objects) }
}
