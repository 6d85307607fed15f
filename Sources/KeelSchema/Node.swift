import KeelCore

/// One compiled subschema: its keywords in evaluation order, checked with a `switch` per keyword
/// (no dictionary lookups of keyword names at validation time).
///
/// The keywords live in a buffer the node owns, which evaluation reads in place through
/// pointers: iterating an `[Keyword]` copied each keyword out (a retain and a release of its
/// box, plus one of the array, per keyword and per node), about 15 ns a keyword (issue 15).
///
/// `@unchecked Sendable`: the compiler fills `keywords` (and a ``Reference``'s target) while it
/// owns the graph, before any ``Validator`` publishes it; afterwards nothing mutates a node.
final class Node: @unchecked Sendable {
    /// Set only through ``setKeywords(_:)``; empty for the `true` schema.
    private(set) var keywords = UnsafeMutableBufferPointer<Keyword>(start: nil, count: 0)
    /// The schema resource (base URI) this subschema belongs to, for the `$dynamicRef` scope.
    let resource: Resource
    /// True when the node has `unevaluatedProperties`/`unevaluatedItems` and so must gather the
    /// annotations of its other keywords.
    var needsAnnotations = false
    /// The canonical location, `base#/json/pointer`, for messages about the schema itself.
    let location: String

    init(resource: Resource, location: String) {
        self.resource = resource
        self.location = location
    }

    deinit { freeKeywords() }

    /// Replaces the keywords (the compiler sets them once; ``dismantle(_:)`` empties them).
    func setKeywords(_ list: [Keyword]) {
        freeKeywords()
        let buffer = UnsafeMutableBufferPointer<Keyword>.allocate(capacity: list.count)
        _ = buffer.initialize(fromContentsOf: list)
        keywords = buffer
    }

    private func freeKeywords() {
        _ = keywords.deinitialize()
        keywords.deallocate()
        keywords = UnsafeMutableBufferPointer(start: nil, count: 0)
    }

    /// Drops every edge of a graph whose nodes are all in `nodes`, so releasing them frees one
    /// node at a time: a chain 100,000 `$ref`s long would otherwise be freed by 100,000 nested
    /// deinits (a stack overflow), and cycles would never be freed at all.
    static func dismantle(_ nodes: [Node]) {
        for node in nodes {
            node.setKeywords([])
            node.resource.dynamicAnchors = [:]
        }
    }
}

/// A schema resource: an `$id` (or a document root) and its `$dynamicAnchor`s.
final class Resource: @unchecked Sendable {
    let uri: String
    var dynamicAnchors: [String: Node] = [:]

    init(uri: String) { self.uri = uri }
}

/// The target of a `$ref`, filled once every node exists (refs may form cycles).
final class Reference: @unchecked Sendable {
    var target: Node!
    /// For `$dynamicRef` whose initial target carries a matching `$dynamicAnchor`: the anchor
    /// name to look up in the dynamic scope, outermost resource first.
    var dynamicName: String?
    let text: String

    init(text: String) { self.text = text }
}

/// The JSON types as bits, for the `type` keyword.
struct TypeMask: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = TypeMask(rawValue: 1)
    static let boolean = TypeMask(rawValue: 2)
    static let integer = TypeMask(rawValue: 4)
    static let number = TypeMask(rawValue: 8)
    static let string = TypeMask(rawValue: 16)
    static let array = TypeMask(rawValue: 32)
    static let object = TypeMask(rawValue: 64)
    /// Every type: what a schema without `type` allows.
    static let any: TypeMask = [.null, .boolean, .integer, .number, .string, .array, .object]

    static func named(_ name: String) -> TypeMask? {
        switch name {
        case "null": .null
        case "boolean": .boolean
        case "integer": .integer
        case "number": [.number, .integer]
        case "string": .string
        case "array": .array
        case "object": .object
        default: nil
        }
    }

    var names: [String] {
        var out: [String] = []
        if contains(.null) { out.append("null") }
        if contains(.boolean) { out.append("boolean") }
        if contains(.number) { out.append("number") } else if contains(.integer) { out.append("integer") }
        if contains(.string) { out.append("string") }
        if contains(.array) { out.append("array") }
        if contains(.object) { out.append("object") }
        return out
    }

    func matches(_ value: JSONValue) -> Bool { withUnsafePointer(to: value) { matches($0) } }

    /// As ``matches(_:)-(JSONValue)``, reading the value in place (no copy of its payload
    /// but, for an `integer` without `number`, a number's).
    @inline(__always)
    func matches(_ value: UnsafePointer<JSONValue>) -> Bool {
        switch value.pointee {
        case .null: contains(.null)
        case .bool: contains(.boolean)
        case .number:
            // The number is bound (copied) only when its integrality decides.
            contains(.number) || (contains(.integer) && value.pointee.numberValue?.isInteger == true)
        case .string: contains(.string)
        case .array: contains(.array)
        case .object: contains(.object)
        }
    }
}

/// One compiled keyword. The keyword name used in errors is fixed by the case, except where a
/// draft-07 spelling differs (`items`/`additionalItems`, `dependencies`). `indirect`: copying a
/// keyword out of the node's array is then one retain, not one per payload field.
enum Keyword: @unchecked Sendable {
    case falseSchema
    case type(TypeMask)
    /// The values, and the same as a set for long lists. Both compare exactly (strings by their
    /// bytes, see `JSONValue ==`), so a hit needs no second check.
    case enumeration([JSONValue], Set<JSONValue>)
    case const(JSONValue)
    case multipleOf(JSONNumber)
    case maximum(JSONNumber)
    case exclusiveMaximum(JSONNumber)
    case minimum(JSONNumber)
    case exclusiveMinimum(JSONNumber)
    case maxLength(Int)
    case minLength(Int)
    case pattern(ECMARegex)
    case format(String, FormatChecker)
    /// Draft-07 only: `contentEncoding` base64 and `contentMediaType` application/json as assertions.
    case content(encoding: String?, mediaType: String?)
    case maxItems(Int)
    case minItems(Int)
    case uniqueItems
    case maxProperties(Int)
    case minProperties(Int)
    case required([String])
    case dependentRequired([(String, [String])], keyword: String)
    case properties([(String, Node)])
    case patternProperties([(ECMARegex, Node)])
    case additionalProperties(Node, names: Set<String>, list: [String], patterns: [ECMARegex])
    case propertyNames(Node)
    case dependentSchemas([(String, Node)], keyword: String)
    case prefixItems([Node], keyword: String)
    case items(Node, start: Int, keyword: String)
    case contains(Node, min: Int, max: Int?)
    case allOf([Node])
    case anyOf([Node])
    case oneOf([Node])
    case not(Node)
    case conditional(if: Node, then: Node?, else: Node?)
    case ref(Reference)
    case dynamicRef(Reference)
    case unevaluatedProperties(Node)
    case unevaluatedItems(Node)
}

/// What the keywords of one evaluation marked as evaluated, for `unevaluated*`.
struct Annotations {
    var allProperties = false
    /// Evaluated property names as `.string` values: JSONValue hashes and compares strings by
    /// their bytes, so an NFD twin of an evaluated "é" is not evaluated.
    var properties: Set<JSONValue> = []
    var allItems = false
    var itemPrefix = 0
    var items: Set<Int> = []

    mutating func merge(_ other: Annotations) {
        if other.allProperties {
            allProperties = true
        } else if !other.properties.isEmpty {
            properties.formUnion(other.properties)
        }
        if other.allItems { allItems = true }
        if other.itemPrefix > itemPrefix { itemPrefix = other.itemPrefix }
        if !other.items.isEmpty { items.formUnion(other.items) }
    }
}
