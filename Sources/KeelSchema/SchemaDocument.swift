import KeelCore

/// One schema document as the semantic contract diff reads it: its root, its dialect, local
/// `$ref` resolution and validators for any of its subschemas (issue 16).
final class SchemaDocument {
    /// A subschema with its JSON Pointer inside ``root``.
    struct Located {
        var value: JSONValue
        var pointer: String
        /// The document the subschema belongs to (compared by identity).
        let document: SchemaDocument

        var object: JSONObject? { value.objectValue }

        /// The member `key` of this subschema, located.
        func child(_ key: String) -> Located? {
            value[key].map { Located(value: $0, pointer: pointer + "/" + JSONPointer.escape(key), document: document) }
        }

        /// Element `index` of the array member `key`.
        func element(_ key: String, _ index: Int) -> Located? {
            guard let list = value[key]?.arrayValue, index < list.count else { return nil }
            return Located(value: list[index], pointer: "\(pointer)/\(JSONPointer.escape(key))/\(index)", document: document)
        }

        /// The members of the array member `key`, located.
        func elements(_ key: String) -> [Located] {
            (0..<(value[key]?.arrayValue?.count ?? 0)).compactMap { element(key, $0) }
        }

        /// Member `name` of the object member `key` (e.g. `properties`/`name`).
        func member(_ key: String, _ name: String) -> Located? {
            guard let v = value[key]?.objectValue?[name] else { return nil }
            return Located(
                value: v, pointer: "\(pointer)/\(JSONPointer.escape(key))/\(JSONPointer.escape(name))", document: document)
        }
    }

    let root: JSONValue
    /// True for draft-07 (and older) documents: `$ref` replaces its siblings, `items` may be an array.
    let draft7: Bool
    /// The URI the document is registered under for subschema validators.
    let uri: String
    let options: ValidatorOptions
    /// The validator of the whole document.
    let validator: Validator
    private var registry = SchemaRegistry()
    private var validators: [String: Validator?] = [:]
    private var regexes: [String: ECMARegex?] = [:]

    /// - Throws: the compiler's `invalidSchema` error when `root` does not compile.
    init(_ root: JSONValue, tag: String, options: ValidatorOptions = .init()) throws {
        self.root = root
        self.options = options
        let dialect = root["$schema"]?.stringValue.flatMap(Dialect.init(uri:)) ?? options.defaultDialect
        draft7 = dialect == .draft7
        uri = "urn:keel:contract-diff:\(tag)"
        validator = try Validator(schema: root, options: options)
        try registry.add(root, uri: uri)
    }

    var top: Located { Located(value: root, pointer: "", document: self) }

    /// The target of a local `$ref` (`#`, `#/…`); nil for anything else (remote, anchors, `$id`-relative).
    func resolve(_ from: Located) -> Located? {
        guard let ref = from.value["$ref"]?.stringValue, ref.hasPrefix("#") else { return nil }
        let pointer = String(ref.dropFirst()).removingPercentEncodingForPointer()
        guard let target = JSONPointer.resolve(pointer, in: root) else { return nil }
        return Located(value: target, pointer: pointer, document: self)
    }

    /// True when `value` is valid against the subschema at `located` (nil when that cannot be compiled alone).
    func accepts(_ value: JSONValue, at located: Located) -> Bool? {
        if located.pointer.isEmpty { return validator.isValid(value) }
        let cached: Validator?
        if let hit = validators[located.pointer] {
            cached = hit
        } else {
            if JSONWriter.string(located.value).contains("\"$") {
                // $ref, $id, $anchor…: compile it where it is, inside the whole document.
                let ref = uri + "#" + located.pointer.percentEncodedForFragment()
                cached = try? Validator(schema: ["$ref": .string(ref)], registry: registry, options: options)
            } else {
                var own = options
                own.defaultDialect = draft7 ? .draft7 : .draft2020_12
                cached = try? Validator(schema: located.value, options: own)
            }
            validators[located.pointer] = cached
        }
        return cached?.isValid(value)
    }

    /// True/false when `pattern` (ECMA-262) does or does not match `text`; nil when it cannot be compiled.
    func matches(_ pattern: String, _ text: String) -> Bool? {
        if regexes[pattern] == nil { regexes[pattern] = .some(try? ECMARegex(pattern)) }
        return regexes[pattern]!.map { $0.matches(text) }
    }
}

extension String {
    /// Percent-decoding of a `$ref` fragment (`%25` → `%`); the pointer itself stays escaped.
    func removingPercentEncodingForPointer() -> String {
        guard contains("%") else { return self }
        var out: [UInt8] = []
        var bytes = Array(utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
                let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
            {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-encodes everything but unreserved characters, `/` and `~` (a pointer in a URI fragment).
    func percentEncodedForFragment() -> String {
        var out = ""
        for b in utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "/"), UInt8(ascii: "$"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
