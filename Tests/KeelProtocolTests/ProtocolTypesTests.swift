import Foundation
import KeelCore
import KeelProtocol
import KeelProtocolGen
import Testing

/// The generated request and result types (Sources/KeelProtocol/Generated/ProtocolTypes.swift):
/// they are what Schemas/protocol/ says, and they read and write the protocol's own messages.
@Suite struct ProtocolTypesTests {
    static let root = ProtocolSchemaTests.root

    /// A schema changed without `swift run keel-protocol-gen`: this fails until the file is regenerated.
    @Test func theCommittedTypesEqualWhatTheGeneratorWritesFromTheSchemas() throws {
        let generated = try ProtocolTypeGenerator.generate(packageRoot: Self.root)
        let committed = try String(
            contentsOf: Self.root.appendingPathComponent(ProtocolTypeGenerator.outputPath), encoding: .utf8)
        #expect(
            generated == committed,
            "\(ProtocolTypeGenerator.outputPath) is out of date: run `swift run keel-protocol-gen` and commit it")
    }

    @Test func everyMethodWithASchemaHasAParamsAndAResultType() {
        let methods = ProtocolValidator.shared.methods
        #expect(Set(ProtocolTypes.params.keys) == Set(methods))
        #expect(Set(ProtocolTypes.results.keys) == Set(methods))
        #expect(ProtocolTypes.notificationParams.keys.sorted() == ["activity/cancel", "workflow/cancel"])
    }

    /// `value` without null members (null means "not set" for the typed fields), at any depth.
    static func withoutNulls(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let o): .object(JSONObject(o.filter { !$0.value.isNull }.map { ($0.key, withoutNulls($0.value)) }))
        case .array(let a): .array(a.map(withoutNulls))
        default: value
        }
    }

    static func messageType(_ c: ProtocolSchemaTests.Checked) -> (any WireValue.Type)? {
        switch c.kind {
        case "params": ProtocolTypes.params[c.method]
        case "notification": ProtocolTypes.notificationParams[c.method] ?? ProtocolTypes.params[c.method]
        default: ProtocolTypes.results[c.method]
        }
    }

    /// Fields the examples and transcripts send that no schema declares: receivers ignore them, and
    /// so do the types. Each is (method, field).
    static let undeclaredFields: Set<[String]> = [
        ["initialize", "newField"], ["shutdown", "reason"],
        // Transcripts that check receivers ignore unknown fields.
        ["activity/execute", "aFieldFromTheFuture"], ["workflow/run", "aFieldFromTheFuture"],
        // Gaps in the schemas the generated types found: docs/protocol.md shows these fields and
        // the engine sends or reads them, but the schemas do not declare them (yet).
        ["activity/list", "createdAtMs"], ["worker/register", "executionTimeoutMs"], ["worker/register", "runTimeoutMs"],
    ]

    /// Where `output` differs from `input`: a member of `input` (not null) that `output` lacks,
    /// unless undeclared; a member only `output` has; an unequal value.
    static func differences(_ input: JSONValue, _ output: JSONValue, method: String, at path: String = "") -> [String] {
        switch (input, output) {
        case (.object(let i), .object(let o)):
            var found: [String] = []
            for (k, v) in i {
                if v.isNull {
                    // null is "not set" for a typed field, and kept by a `JSONValue` one.
                    if let w = o[k], !w.isNull { found.append("\(path).\(k) was null, became \(w)") }
                } else if let w = o[k] {
                    found += differences(v, w, method: method, at: path + "." + k)
                } else if !undeclaredFields.contains([method, k]) {
                    found.append("\(path).\(k) was dropped")
                }
            }
            for (k, _) in o where i[k] == nil { found.append("\(path).\(k) was added") }
            return found
        case (.array(let i), .array(let o)) where i.count == o.count:
            return zip(i, o).enumerated().flatMap { differences($0.element.0, $0.element.1, method: method, at: "\(path)[\($0.offset)]") }
        default:
            return input == output ? [] : ["\(path): \(input) became \(output)"]
        }
    }

    /// Reads `c` into its type and writes it back: the same JSON, less nulls and undeclared fields.
    static func roundTrip(_ c: ProtocolSchemaTests.Checked) throws {
        let type = try #require(messageType(c), "\(c.origin): no generated type for \(c.method) \(c.kind)")
        let decoded = try type.init(json: c.value)
        let found = differences(c.value, decoded.json, method: c.method)
        #expect(found.isEmpty, "\(c.origin): \(found.joined(separator: "; "))")
        // And reading what it wrote gives the same value.
        #expect(try type.init(json: decoded.json).json == decoded.json)
    }

    @Test func everyExampleInTheProtocolDocReadsAndWritesBackUnchanged() throws {
        let examples = try ProtocolSchemaTests.documentExamples()
        #expect(examples.count >= 14)
        for e in examples { try Self.roundTrip(e) }
    }

    @Test func everyTranscriptMessageReadsAndWritesBackUnchanged() throws {
        let (messages, _) = try ProtocolSchemaTests.transcriptMessages()
        #expect(messages.count >= 80)
        for m in messages { try Self.roundTrip(m) }
    }

    @Test(arguments: ProtocolSchemaTests.accepted)
    func paramsTheSchemasAcceptReadAndWriteBackUnchanged(method: String, params: String) throws {
        try Self.roundTrip(.init(method: method, kind: "params", value: try JSONParser.parse(params), origin: params))
    }

    @Test func everyMethodIsCoveredByAnExampleOrATranscript() throws {
        let covered = Set(
            try ProtocolSchemaTests.documentExamples().map(\.method)
                + ProtocolSchemaTests.transcriptMessages().checked.map(\.method)
                + ProtocolSchemaTests.accepted.map(\.0))
        #expect(covered.isSuperset(of: ["workflow/start", "workflow/signal", "workflow/cancel", "workflow/result",
            "workflow/describe", "activity/call", "activity/result"]))
    }

    // MARK: - typed fields

    @Test func theFieldsAreTyped() throws {
        let p = try WorkflowStartParams(
            json: try JSONParser.parse(
                #"{"name":"o.f","input":null,"conflictPolicy":"fail","priority":-3,"signal":{"name":"go","payload":[1]},"searchAttributes":{"vip":true}}"#))
        #expect(p.name == "o.f")
        #expect(p.input == .null)  // `{}` keeps null: it is the input
        #expect(p.conflictPolicy == .fail)
        #expect(p.priority == -3)
        #expect(p.signal == WorkflowStartParams.Signal(name: "go", payload: [1]))
        #expect(p.searchAttributes == ["vip": true])
        #expect(p.workflowId == nil)
        let r = try WorkflowStartResult(json: ["workflowId": "w", "status": "pending", "started": true])
        #expect(r.status == .pending)
        #expect(r.json == ["workflowId": "w", "status": "pending", "started": true])
    }

    @Test func aSharedResultTypeReadsTheResultOfEachMethodThatUsesIt() throws {
        let result: JSONValue = ["workflowId": "w", "status": "failed",
            "failure": ["type": "Boom", "message": "no", "retryable": false]]
        let r = try WorkflowCancelResult(json: result)
        #expect(r.failure?.type == "Boom")
        #expect(r.json == result)
        #expect(try WorkflowResultResult(json: result) == r)
    }

    // MARK: - wrong types are refused, naming the field

    static let refused: [(String, String, String, String)] = [
        ("workflow/signal", #"{"workflowId":"w","name":7}"#, "workflow/signal: params.name must be a string", "name"),
        ("workflow/signal", #"{"name":"go"}"#, "workflow/signal: params.workflowId is required", "workflowId"),
        ("workflow/signal", #"{"workflowId":null,"name":"go"}"#, "workflow/signal: params.workflowId is required", "workflowId"),
        ("workflow/start", #"{"name":"o","signal":{"name":["go"]}}"#, "workflow/start: params.signal.name must be a string", "signal.name"),
        ("workflow/start", #"{"name":"o","conflictPolicy":3}"#,
            "workflow/start: params.conflictPolicy must be a string, one of: useExisting, fail", "conflictPolicy"),
        ("workflow/start", #"{"name":"o","priority":1.5}"#, "workflow/start: params.priority must be an integer", "priority"),
        ("workflow/start", #"{"name":"o","searchAttributes":[]}"#, "workflow/start: params.searchAttributes must be an object", "searchAttributes"),
        ("activity/call", #"{"name":"a","wait":"yes"}"#, "activity/call: params.wait must be true or false", "wait"),
        ("activity/call", #"{"name":"a","retryPolicy":{"nonRetryableErrorTypes":["A",2]}}"#,
            "activity/call: params.retryPolicy.nonRetryableErrorTypes[1] must be a string", "retryPolicy.nonRetryableErrorTypes[1]"),
        ("activity/call", #"{"name":"a","retryPolicy":{"backoffCoefficient":"2"}}"#,
            "activity/call: params.retryPolicy.backoffCoefficient must be a number", "retryPolicy.backoffCoefficient"),
        ("workflow/result", #"[]"#, "workflow/result: params must be an object", ""),
    ]

    @Test(arguments: refused)
    func aWrongTypeIsRefusedWithTheFieldItIsIn(method: String, params: String, message: String, field: String) throws {
        let type = try #require(ProtocolTypes.params[method])
        let error = try #require(throws: KeelError.self) { try type.init(json: try JSONParser.parse(params)) }
        #expect(error.code == .invalidParams)
        #expect(error.message == message)
        #expect(error.data == ["field": .string(field)])
    }

    /// A status this binary does not know (a newer server's) is kept as it came: an older client
    /// still reads the answer. The server holds params to the known values with the schema check.
    @Test func aValueTheSchemasDoNotNameIsKeptNotRefused() throws {
        let answer: JSONValue = ["workflowId": "w", "status": "continuedElsewhere"]
        let r = try WorkflowCancelResult(json: answer)
        #expect(r.status.rawValue == "continuedElsewhere")
        #expect(!r.status.isKnown)
        #expect(Wire.WorkflowStatus.completed.isKnown)
        #expect(r.json == answer)
    }

    @Test func aResultOfTheWrongShapeIsRefusedNamingTheResult() throws {
        let error = try #require(throws: KeelError.self) {
            try WorkflowSignalResult(json: ["delivered": "yes"])
        }
        #expect(error.message == "workflow/signal: result.delivered must be true or false")
    }
}
