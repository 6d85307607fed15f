import KeelCore

/// Turns schemas into Swift types (see ``ProtocolTypeGenerator`` for the mapping).
struct Resolver {
    let common: JSONObject
    /// Shared definitions already resolved: their Swift type and whether null is allowed.
    private var sharedTypes: [String: (type: SwiftType, nullable: Bool)] = [:]
    private var resolving: Set<String> = []

    init(common: JSONObject) { self.common = common }

    /// The declaration of a shared definition that is an object or an enum, else nil (a plain
    /// string or integer definition is spelled as its Swift type where it is used).
    mutating func sharedDecl(_ key: String, _ def: JSONValue) throws -> Decl? {
        var nested: [Decl] = []
        let name = ProtocolTypeGenerator.upperFirst(key)
        let resolved = try resolve(def, hint: name, nested: &nested, describe: true)
        sharedTypes[key] = (resolved.type.qualifiedShared(name), resolved.nullable)
        return nested.first
    }

    /// A method's params or result type: a struct, or an alias of a shared type it only refers to.
    mutating func messageDecl(_ name: String, method: String, part: String, schema: JSONValue) throws -> Decl {
        var nested: [Decl] = []
        let doc = Self.doc(title: schema["title"]?.stringValue, schema["description"]?.stringValue)
        let resolved = try resolve(schema, hint: name, nested: &nested, describe: false)
        switch resolved.type {
        case .named(let n) where nested.isEmpty:
            return .alias(name: name, doc: doc, target: n)
        case .named:
            guard case .structure(_, _, let fields, let inner) = nested[0] else { break }
            return .structure(name: name, doc: doc, fields: fields, nested: inner)
        default: break
        }
        // Anything else (an empty or any object): a struct without fields that accepts an object.
        return .structure(name: name, doc: doc, fields: [], nested: [])
    }

    static func doc(title: String?, _ description: String?) -> [String] {
        [title.map { "`\($0)`." }, description].compactMap { $0 }
    }

    /// The Swift type of `schema`. An object or enum becomes a declaration named `hint`, appended to `nested`.
    /// - Parameter describe: put the schema's description on the declaration (shared definitions).
    mutating func resolve(_ schema: JSONValue, hint: String, nested: inout [Decl], describe: Bool = true)
        throws -> (type: SwiftType, nullable: Bool)
    {
        guard case .object(let s) = schema else { return (.json, true) }
        let types = Self.types(s["type"])
        let nullable = types?.contains("null") ?? true
        let doc = describe ? [s["description"]?.stringValue].compactMap { $0 } : []

        // `$ref` (alone or beside `type`/`description`): the referenced definition's type.
        if let ref = s["$ref"]?.stringValue {
            let shared = try sharedType(ref)
            return (shared.type, types == nil ? shared.nullable : nullable)
        }
        // `allOf: [{$ref}]`: the referenced type, or a merged struct when it adds fields or requires more.
        if let all = s["allOf"]?.arrayValue, all.count == 1, let ref = all[0]["$ref"]?.stringValue {
            let key = try Self.defKey(ref)
            guard case .object(var base) = common[key] ?? .null else { throw GeneratorError("no definition \(ref)") }
            let baseRequired = Set(Self.strings(base["required"]))
            let ownRequired = Set(Self.strings(s["required"]))
            let ownProperties = s["properties"]?.objectValue ?? [:]
            if ownProperties.isEmpty, ownRequired.isSubset(of: baseRequired) {
                return (try sharedType(ref).type, nullable)
            }
            var properties = base["properties"]?.objectValue ?? [:]
            for (k, v) in ownProperties where properties[k] == nil { properties[k] = v }
            base["properties"] = .object(properties)
            base["required"] = .array(
                (Self.strings(base["required"]) + Self.strings(s["required"]).filter { !baseRequired.contains($0) })
                    .map { .string($0) })
            base["description"] = s["description"]
            return (try structure(base, name: hint, doc: doc, nested: &nested), nullable)
        }
        if let values = s["enum"]?.arrayValue {
            let strings = values.compactMap(\.stringValue)
            let hasNull = values.contains(.null)
            guard strings.count + (hasNull ? 1 : 0) == values.count, !strings.isEmpty else { return (.json, true) }
            nested.append(.enumeration(name: hint, doc: doc, cases: strings))
            return (.named(hint), hasNull)
        }
        if let constant = s["const"] {
            switch constant {
            case .bool: return (.bool, false)
            case .string: return (.string, false)
            default: return (.json, true)
            }
        }
        let nonNull = types?.filter { $0 != "null" } ?? []
        if nonNull.count > 1 { return (.json, true) }
        switch nonNull.first {
        case "string": return (.string, nullable)
        case "integer": return (.int, nullable)
        case "number": return (.double, nullable)
        case "boolean": return (.bool, nullable)
        case "array":
            guard let items = s["items"] else { return (.array(.json), nullable) }
            return (.array(try resolve(items, hint: Self.singular(hint), nested: &nested).type), nullable)
        case "object", nil:
            if s["properties"] != nil { return (try structure(s, name: hint, doc: doc, nested: &nested), nullable) }
            if case .object = s["additionalProperties"] ?? .null {
                return (.map(try resolve(s["additionalProperties"]!, hint: Self.singular(hint), nested: &nested).type), nullable)
            }
            return (.json, true)
        default:
            return (.json, true)
        }
    }

    /// A struct for an object schema with `properties`, appended to `nested`.
    private mutating func structure(_ s: JSONObject, name: String, doc: [String], nested: inout [Decl]) throws
        -> SwiftType
    {
        let required = Set(Self.strings(s["required"]))
        var fields: [Field] = []
        var inner: [Decl] = []
        for (key, property) in s["properties"]?.objectValue ?? [:] {
            let typeName = Self.typeName(forField: key)
            let resolved = try resolve(property, hint: typeName, nested: &inner)
            let isRequired = required.contains(key) && (!resolved.nullable || resolved.type == .json)
            fields.append(
                Field(key: key, type: resolved.type, optional: !isRequired, doc: property["description"]?.stringValue))
        }
        nested.append(.structure(name: name, doc: doc, fields: fields, nested: inner))
        return .named(name)
    }

    private mutating func sharedType(_ ref: String) throws -> (type: SwiftType, nullable: Bool) {
        let key = try Self.defKey(ref)
        if let known = sharedTypes[key] { return known }
        guard let def = common[key] else { throw GeneratorError("no definition \(ref)") }
        guard !resolving.contains(key) else { throw GeneratorError("\(ref) refers to itself") }
        resolving.insert(key)
        defer { resolving.remove(key) }
        var ignored: [Decl] = []
        let name = ProtocolTypeGenerator.upperFirst(key)
        let resolved = try resolve(def, hint: name, nested: &ignored)
        let result = (resolved.type.qualifiedShared(name), resolved.nullable)
        sharedTypes[key] = result
        return result
    }

    static func defKey(_ ref: String) throws -> String {
        for prefix in ["common.json#/$defs/", "#/$defs/"] where ref.hasPrefix(prefix) {
            return String(ref.dropFirst(prefix.count))
        }
        throw GeneratorError("cannot follow $ref \(ref): only common.json#/$defs/… is supported")
    }

    static func types(_ v: JSONValue?) -> [String]? {
        switch v {
        case .string(let t): [t]
        case .array(let a): a.compactMap(\.stringValue)
        default: nil
        }
    }

    static func strings(_ v: JSONValue?) -> [String] { v?.arrayValue?.compactMap(\.stringValue) ?? [] }

    /// The nested type name for a field: `currentStep` → `CurrentStep`; names Swift reserves get `Value`.
    static func typeName(forField key: String) -> String {
        let name = ProtocolTypeGenerator.upperFirst(key)
        return ["Type", "Self", "Protocol", "Any", "String", "Int", "Bool", "Double"].contains(name) ? name + "Value" : name
    }

    /// The element type name for an array field: `pendingSteps` → `PendingStep`.
    static func singular(_ name: String) -> String {
        if name.hasSuffix("ies") { return name.dropLast(3) + "y" }
        if name.hasSuffix("s"), !name.hasSuffix("ss") { return String(name.dropLast()) }
        return name + "Item"
    }
}

extension SwiftType {
    /// A shared definition's own declaration lives under `Wire`.
    func qualifiedShared(_ name: String) -> SwiftType {
        if case .named(let n) = self, n == name { return .named("Wire." + name) }
        return self
    }
}
