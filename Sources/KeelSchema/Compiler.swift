import KeelCore

/// Turns a schema (and whatever it references) into a graph of ``Node``s.
///
/// Two passes per document: ``walk`` indexes every subschema's base URI and dialect, every
/// `$id`, `$anchor` and `$dynamicAnchor` — only inside keywords known to hold subschemas, so an
/// `$id` inside `enum` or an unknown keyword names nothing. Then nodes are compiled on demand
/// from the root, through `$ref`s, from a work list (refs may be cyclic, so a node exists before
/// its keywords do). Not thread-safe; one compiler per ``Validator`` init.
final class Compiler {
    struct Location: Hashable {
        var doc: Int
        var pointer: String
    }

    struct Info {
        var base: String
        var rules: Rules
    }

    var registry: SchemaRegistry
    let options: ValidatorOptions
    var docs: [JSONValue] = []
    var docURIs: [String] = []
    var resources: [String: Location] = [:]
    var anchors: [String: (location: Location, dynamic: Bool)] = [:]
    var dynamicAnchors: [String: [String: Location]] = [:]
    var infos: [Location: Info] = [:]
    var nodes: [Location: Node] = [:]
    var resourceObjects: [String: Resource] = [:]
    var pending: [(Node, Location, JSONValue, Info)] = []
    /// Resources whose `$dynamicAnchor` nodes are still to be created.
    var pendingResources: [Resource] = []
    var regexCache: [String: ECMARegex] = [:]
    var metaRulesCache: [String: Rules] = [:]
    var usesDynamicScope = false

    init(registry: SchemaRegistry, options: ValidatorOptions) {
        self.registry = registry
        self.options = options
    }

    /// Hands every node to the caller, who then owns the graph (and must dismantle it).
    func takeNodes() -> [Node] {
        defer { nodes = [:] }
        return Array(nodes.values)
    }

    /// A compile that failed leaves a partial graph: dismantled here, not released recursively.
    deinit { Node.dismantle(Array(nodes.values)) }

    /// Compiles `schema` and everything it references.
    /// - Throws: `KeelError(.invalidSchema)` naming the offending location or reference.
    func compile(_ schema: JSONValue) throws -> Node {
        let doc = try addDocument(schema, uri: "", defaultRules: options.defaultDialect.rules)
        let root = try node(at: Location(doc: doc, pointer: ""))
        while true {
            if let (node, loc, value, info) = pending.popLast() {
                try compileKeywords(node, value, loc, info)
            } else if let r = pendingResources.popLast() {
                for (name, loc) in dynamicAnchors[r.uri] ?? [:] { r.dynamicAnchors[name] = try node(at: loc) }
            } else {
                break
            }
        }
        try CycleCheck.run(from: Array(nodes.values))
        return root
    }

    // MARK: Documents and the index

    func addDocument(_ value: JSONValue, uri: String, defaultRules: Rules) throws -> Int {
        // `walk` and the evaluation recurse along the schema's nesting: bound it first.
        if value.nestsDeeper(than: SchemaLimits.maximumSchemaDepth) {
            throw KeelError(
                .invalidSchema,
                "The schema \(uri.isEmpty ? "" : "\"\(uri)\" ")is nested deeper than \(SchemaLimits.maximumSchemaDepth) levels.")
        }
        let id = docs.count
        docs.append(value)
        docURIs.append(uri)
        let root = Location(doc: id, pointer: "")
        resources[uri] = root
        try walk(value, root, base: uri, rules: defaultRules, isRoot: true)
        return id
    }

    func walk(_ value: JSONValue, _ loc: Location, base: String, rules: Rules, isRoot: Bool) throws {
        guard case .object(let o) = value else {
            infos[loc] = Info(base: base, rules: rules)
            return
        }
        var base = base
        var rules = rules
        let id = o["$id"]?.stringValue
        if let s = o["$schema"]?.stringValue, isRoot || id != nil {
            rules = try self.rules(forMetaSchema: s, at: loc)
        }
        // Draft-07: "All other properties in a "$ref" object MUST be ignored", $id included.
        let refOnly = rules.draft == .draft7 && o["$ref"] != nil
        if !refOnly, let id {
            if rules.draft == .draft7, id.hasPrefix("#") {
                anchors[base + id] = (loc, false)
            } else {
                let (b, fragment) = URIReference.splitFragment(URIReference.resolve(id, against: base))
                base = b
                if resources[b] == nil { resources[b] = loc }
                if let fragment, !fragment.isEmpty, rules.draft == .draft7 {
                    anchors[b + "#" + fragment] = (loc, false)
                }
            }
        }
        infos[loc] = Info(base: base, rules: rules)
        if rules.draft != .draft7 {
            if let a = o["$anchor"]?.stringValue { anchors[base + "#" + a] = (loc, false) }
            if let a = o["$dynamicAnchor"]?.stringValue {
                anchors[base + "#" + a] = (loc, true)
                dynamicAnchors[base, default: [:]][a] = loc
            }
        }
        if refOnly { return }
        for (suffix, child) in Self.subschemas(o, rules) {
            try walk(
                child, Location(doc: loc.doc, pointer: loc.pointer + suffix), base: base, rules: rules, isRoot: false)
        }
    }

    /// The subschemas of a schema object, as (pointer suffix, value), per the dialect's keywords.
    static func subschemas(_ o: JSONObject, _ rules: Rules) -> [(String, JSONValue)] {
        var out: [(String, JSONValue)] = []
        func single(_ k: String) { if let v = o[k] { out.append(("/" + JSONPointer.escape(k), v)) } }
        func map(_ k: String, schemasOnly: Bool = false) {
            guard let m = o[k]?.objectValue else { return }
            for (name, v) in m {
                if schemasOnly, case .array = v { continue }
                out.append(("/" + k + "/" + JSONPointer.escape(name), v))
            }
        }
        func array(_ k: String) {
            guard let a = o[k]?.arrayValue else { return }
            for (i, v) in a.enumerated() { out.append(("/\(k)/\(i)", v)) }
        }
        for k in ["additionalProperties", "propertyNames", "not", "if", "then", "else", "contains"] { single(k) }
        map("properties")
        map("patternProperties")
        map("definitions")
        array("allOf")
        array("anyOf")
        array("oneOf")
        if rules.draft == .draft7 {
            map("dependencies", schemasOnly: true)
        } else {
            map("$defs")
            map("dependentSchemas")
            map("dependencies", schemasOnly: true)
            single("unevaluatedProperties")
            single("unevaluatedItems")
            single("contentSchema")
        }
        if rules.draft == .draft2020 {
            array("prefixItems")
            single("items")
        } else {
            if case .array = o["items"] { array("items") } else { single("items") }
            single("additionalItems")
        }
        return out
    }

    /// The rules a `$schema` value selects: a standard dialect, or a custom meta-schema's
    /// `$vocabulary` on top of the dialect that meta-schema itself uses.
    func rules(forMetaSchema uri: String, at loc: Location, depth: Int = 0) throws -> Rules {
        if let r = Rules.standard(uri) { return r }
        let key = URIReference.withoutFragment(uri)
        if let r = metaRulesCache[key] { return r }
        guard depth < 8, let meta = try loadDocument(key) else {
            throw KeelError(
                .invalidSchema, "Unknown meta-schema \"\(uri)\" in $schema: register it or use a supported dialect.")
        }
        var rules = options.defaultDialect.rules
        if let parent = meta["$schema"]?.stringValue, URIReference.withoutFragment(parent) != key {
            rules = try self.rules(forMetaSchema: parent, at: loc, depth: depth + 1)
        }
        if let vocabulary = meta["$vocabulary"]?.objectValue {
            var flags: [String: Bool] = [:]
            for (k, v) in vocabulary { flags[k] = v.boolValue ?? false }
            do { try rules.apply(vocabulary: flags) } catch {
                throw KeelError(
                    .invalidSchema, "Meta-schema \"\(uri)\" requires the unknown vocabulary \"\(error.uri)\".")
            }
        }
        metaRulesCache[key] = rules
        return rules
    }

    func loadDocument(_ uri: String) throws -> JSONValue? {
        do { return try registry.document(for: uri) } catch {
            throw KeelError(.invalidSchema, "Could not load schema \"\(uri)\": \(error)", cause: error)
        }
    }

    /// Where the resource `uri` (no fragment) starts, loading it from the registry on first use.
    func resourceLocation(_ uri: String) throws -> Location? {
        if let loc = resources[uri] { return loc }
        guard let doc = try loadDocument(uri) else { return nil }
        _ = try addDocument(doc, uri: uri, defaultRules: options.defaultDialect.rules)
        return resources[uri]
    }

    /// Resolves a `$ref`/`$dynamicRef` value against `base`.
    /// - Returns: the target location, and whether its fragment names a `$dynamicAnchor`.
    func resolve(_ ref: String, base: String) throws -> (Location, dynamicName: String?) {
        let absolute = URIReference.resolve(ref, against: base)
        let (b, fragment) = URIReference.splitFragment(absolute)
        func unresolvable(_ why: String) -> KeelError {
            KeelError(.invalidSchema, "Cannot resolve $ref \"\(ref)\" (\(absolute)): \(why).")
        }
        guard let root = try resourceLocation(b) else {
            throw unresolvable("no schema is registered under \"\(b)\"")
        }
        guard let fragment, !fragment.isEmpty else { return (root, nil) }
        if fragment.hasPrefix("/") {
            let pointer = URIReference.percentDecoded(fragment)
            let loc = Location(doc: root.doc, pointer: root.pointer + pointer)
            guard JSONPointer.resolve(loc.pointer, in: docs[loc.doc]) != nil else {
                throw unresolvable("nothing at JSON Pointer \(pointer)")
            }
            return (loc, nil)
        }
        let name = URIReference.percentDecoded(fragment)
        guard let anchor = anchors[b + "#" + name] else { throw unresolvable("no anchor \"\(name)\"") }
        return (anchor.location, anchor.dynamic ? name : nil)
    }

    /// Base URI and rules of any location, also one that no `walk` reached (a `$ref` into an
    /// unknown keyword): inherited from the nearest indexed ancestor, then indexed.
    func info(for loc: Location) throws -> Info {
        if let i = infos[loc] { return i }
        var pointer = loc.pointer
        var ancestor: Info?
        while ancestor == nil, let slash = pointer.lastIndex(of: "/") {
            pointer = String(pointer[..<slash])
            ancestor = infos[Location(doc: loc.doc, pointer: pointer)]
        }
        let start = ancestor ?? Info(base: docURIs[loc.doc], rules: options.defaultDialect.rules)
        if let value = JSONPointer.resolve(loc.pointer, in: docs[loc.doc]) {
            try walk(value, loc, base: start.base, rules: start.rules, isRoot: false)
        }
        return infos[loc] ?? start
    }

    func resource(for base: String) -> Resource {
        if let r = resourceObjects[base] { return r }
        let r = Resource(uri: base)
        resourceObjects[base] = r
        pendingResources.append(r)
        return r
    }

    /// The node for a location, created (and queued for compilation) on first request.
    func node(at loc: Location) throws -> Node {
        if let n = nodes[loc] { return n }
        guard let value = JSONPointer.resolve(loc.pointer, in: docs[loc.doc]) else {
            throw KeelError(.invalidSchema, "No schema at \(docURIs[loc.doc])#\(loc.pointer).")
        }
        let info = try info(for: loc)
        let n = Node(resource: resource(for: info.base), location: docURIs[loc.doc] + "#" + loc.pointer)
        nodes[loc] = n
        pending.append((n, loc, value, info))
        return n
    }

    func regex(_ pattern: String, at loc: Location) throws -> ECMARegex {
        let r: ECMARegex
        if let cached = regexCache[pattern] {
            r = cached
        } else {
            do { r = try ECMARegex(pattern) } catch {
                throw KeelError(.invalidSchema, "Invalid pattern at \(docURIs[loc.doc])#\(loc.pointer): \(error).")
            }
            regexCache[pattern] = r
        }
        if options.requireLinearPatterns, let why = r.linearTimeRefusal {
            throw KeelError(
                .invalidSchema,
                "The pattern \(describe(.string(pattern))) at \(docURIs[loc.doc])#\(loc.pointer) cannot be matched in "
                    + "linear time: \(why). Rewrite it without backreferences or lookahead.",
                data: ["pattern": .string(pattern), "reason": .string(why)])
        }
        return r
    }
}
