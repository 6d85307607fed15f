public import KeelCore
import KeelSchema

/// Checks protocol messages against the protocol's own schemas (Schemas/protocol/, embedded in
/// ``ProtocolSchemas``): "Machine-readable schemas for every method's params and result are in
/// `Schemas/protocol/`" (docs/protocol.md).
///
/// Every schema is compiled once, on first use of ``shared``; a check is one `isValid` pass, and
/// the error list is built only for an invalid message.
///
/// ```swift
/// if let error = ProtocolValidator.shared.checkParams(method: method, params: params) { throw error }
/// ```
public struct ProtocolValidator: Sendable {
    /// The validator for the embedded schemas, compiled once per process.
    public static let shared = ProtocolValidator()

    /// The most errors one check reports in `data.errors`.
    public static let maxErrors = 20

    private let params: [String: Validator]
    private let results: [String: Validator]
    private let notifications: [String: Validator]

    /// Compiles every embedded schema. The schemas are checked in and compiled by
    /// ProtocolSchemaTests, so a failure here is a build defect and traps.
    public init() {
        let options = ValidatorOptions(defaultDialect: .draft2020_12, assertFormat: false, maxErrors: Self.maxErrors)
        var registry = SchemaRegistry()
        do {
            try registry.add(try JSONParser.parse(ProtocolSchemas.common), uri: ProtocolSchemas.commonURI)
            var params: [String: Validator] = [:]
            var results: [String: Validator] = [:]
            var notifications: [String: Validator] = [:]
            for m in ProtocolSchemas.methods {
                params[m.method] = try Validator(schema: JSONParser.parse(m.params), registry: registry, options: options)
                results[m.method] = try Validator(schema: JSONParser.parse(m.result), registry: registry, options: options)
            }
            for n in ProtocolSchemas.notifications {
                notifications[n.method] = try Validator(
                    schema: JSONParser.parse(n.params), registry: registry, options: options)
            }
            self.params = params
            self.results = results
            self.notifications = notifications
        } catch {
            preconditionFailure("the embedded protocol schemas do not compile: \(error)")
        }
    }

    /// Every method with a schema, sorted.
    public var methods: [String] { params.keys.sorted() }

    /// Checks a request's params.
    /// - Returns: nil when valid or when `method` has no schema (the engine answers -32601
    ///   itself); else `invalidParams` (-32602) with the message
    ///   `params of METHOD: at /pointer: …` and `data: {"errors": [{instanceLocation,
    ///   keywordLocation, keyword, message}, …]}`.
    public func checkParams(method: String, params value: JSONValue) -> KeelError? {
        guard let validator = params[method] else { return nil }
        return Self.check(validator, value, what: "params of \(method)")
    }

    /// Checks the params of a notification: the notification schema where the method has one
    /// (`activity/cancel` Keel → worker), else the request's.
    public func checkNotificationParams(method: String, params value: JSONValue) -> KeelError? {
        guard let validator = notifications[method] ?? params[method] else { return nil }
        return Self.check(validator, value, what: "params of \(method)")
    }

    /// Checks a response's result for `method` (the method of the request it answers).
    /// - Returns: nil when valid or unknown; else `invalidParams` (-32602) with the message
    ///   `result of METHOD: at /pointer: …` and the same `data` as ``checkParams(method:params:)``.
    public func checkResult(method: String, result value: JSONValue) -> KeelError? {
        guard let validator = results[method] else { return nil }
        return Self.check(validator, value, what: "result of \(method)")
    }

    private static func check(_ validator: Validator, _ value: JSONValue, what: String) -> KeelError? {
        if validator.isValid(value) { return nil }
        let errors = validator.validate(value)
        var message = what
        if let first = errors.first {
            message += ": \(first.description)"
            if errors.count > 1 { message += " (and \(errors.count - 1) more)" }
        } else {
            message += " is invalid"
        }
        return KeelError(.invalidParams, message, data: ["errors": .array(errors.map(\.json))])
    }
}
