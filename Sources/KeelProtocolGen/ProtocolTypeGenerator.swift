import KeelCore

/// Generates Swift request and result types from the protocol's JSON Schemas (Schemas/protocol/):
/// one `public struct` per method's params and result, and one type per shared object or enum of
/// common.json (under `Wire`). The output is one file, Sources/KeelProtocol/Generated/ProtocolTypes.swift;
/// `keel-protocol-gen` writes it and ProtocolTypesDriftTests fails when it differs from the schemas.
///
/// Mapping: an object with `properties` is a struct (required fields non-optional, the rest
/// optional); a string enum is a `String` enum; an array is `[T]`; an object with only an
/// `additionalProperties` schema is `[String: T]`; `integer` is `Int64`, `number` `Double`;
/// anything else (`{}`, several types, `oneOf` of different shapes) is `JSONValue`. Keywords that
/// only constrain (ranges, patterns, `if`/`then`, an `anyOf` beside `properties`) are left to the
/// schema validator.
public struct ProtocolTypeGenerator {
    /// One schema file: its name (`workflow.signal.params.json`) and its text.
    public struct File: Sendable {
        public var name: String
        public var text: String
        public init(name: String, text: String) {
            self.name = name
            self.text = text
        }
    }

    let common: JSONObject
    let messages: [(name: String, method: String, part: String, schema: JSONValue)]

    /// Parses the files.
    /// - Throws: `GeneratorError` for a file that is not JSON, a name that follows no pattern, or no common.json.
    public init(files: [File]) throws {
        var common: JSONObject?
        var messages: [(String, String, String, JSONValue)] = []
        for file in files.sorted(by: { $0.name < $1.name }) where file.name.hasSuffix(".json") {
            let doc: JSONValue
            do { doc = try JSONParser.parse(file.text) } catch { throw GeneratorError("\(file.name): \(error)") }
            if file.name == "common.json" {
                common = doc["$defs"]?.objectValue ?? [:]
                continue
            }
            let stem = String(file.name.dropLast(".json".count))
            var parts = stem.split(separator: ".").map(String.init)
            guard parts.count >= 2, let part = parts.popLast(), part == "params" || part == "result" else {
                throw GeneratorError("\(file.name): not <area>.<verb>.params.json or .result.json")
            }
            let notification = parts.last == "notification"
            if notification { parts.removeLast() }
            let method = parts.count == 1 ? parts[0] : parts[0] + "/" + parts.dropFirst().joined(separator: ".")
            let name = parts.map(Self.upperFirst).joined() + (notification ? "Notification" : "") + Self.upperFirst(part)
            messages.append((name, method, part, doc))
        }
        guard let common else { throw GeneratorError("common.json is missing") }
        self.common = common
        self.messages = messages
    }

    /// The Swift source of every type.
    public func generate() throws -> String {
        var resolver = Resolver(common: common)
        var shared: [Decl] = []
        for (key, def) in common {
            if let decl = try resolver.sharedDecl(key, def) { shared.append(decl) }
        }
        var top: [Decl] = []
        for m in messages {
            top.append(try resolver.messageDecl(m.name, method: m.method, part: m.part, schema: m.schema))
        }
        var out = Emitter()
        out.header()
        out.line("extension Wire {")
        out.indent += 1
        for (i, decl) in shared.enumerated() {
            if i > 0 { out.line("") }
            out.emit(decl, message: nil)
        }
        out.indent -= 1
        out.line("}")
        for (decl, m) in zip(top, messages) {
            out.line("")
            out.emit(decl, message: (m.method, m.part))
        }
        // Each request's params type names its method and result type.
        for m in messages where m.part == "params" && !m.name.hasSuffix("NotificationParams") {
            let result = m.name.dropLast("Params".count) + "Result"
            out.line("")
            out.line("extension \(m.name): WireRequest {")
            out.line("    public typealias Response = \(result)")
            out.line("    public static var method: String { \(Emitter.quoted(m.method)) }")
            out.line("}")
        }
        out.line("")
        out.line("/// Every method's generated params and result types, by method.")
        out.line("public enum ProtocolTypes {")
        out.indent += 1
        for (table, part, doc) in [
            ("params", "params", "A request's params type."), ("notificationParams", "notification", "A notification's params type, where it differs from the request's."),
            ("results", "result", "A successful response's result type."),
        ] {
            if table != "params" { out.line("") }
            out.line("/// \(doc)")
            out.line("public static let \(table): [String: any WireValue.Type] = [")
            for m in messages where (m.part == "result" ? "result" : m.name.hasSuffix("NotificationParams") ? "notification" : "params") == part {
                out.line("    \(Emitter.quoted(m.method)): \(m.name).self,")
            }
            out.line("]")
        }
        out.indent -= 1
        out.line("}")
        return out.text
    }

    static func upperFirst(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
}

/// A schema the generator cannot read.
public struct GeneratorError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Model

indirect enum SwiftType: Equatable {
    case string, int, double, bool, json
    case named(String)
    case array(SwiftType)
    case map(SwiftType)

    var spelled: String {
        switch self {
        case .string: "String"
        case .int: "Int64"
        case .double: "Double"
        case .bool: "Bool"
        case .json: "JSONValue"
        case .named(let n): n
        case .array(let t): "[\(t.spelled)]"
        case .map(let t): "[String: \(t.spelled)]"
        }
    }
}

struct Field {
    var key: String
    var type: SwiftType
    var optional: Bool
    var doc: String?
}

enum Decl {
    case structure(name: String, doc: [String], fields: [Field], nested: [Decl])
    case enumeration(name: String, doc: [String], cases: [String])
    case alias(name: String, doc: [String], target: String)
}
