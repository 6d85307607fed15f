import Foundation
import KeelCore
import KeelProtocol
import KeelSchema
import Testing

/// Schemas/protocol/ is the protocol's machine-readable definition: these tests hold it to
/// docs/protocol.md (its examples), to clients/conformance/ (its transcripts) and to the embedded
/// copy in ``ProtocolSchemas``.
@Suite struct ProtocolSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let validator = ProtocolValidator.shared

    static func read(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// Every method docs/protocol.md defines.
    static let documentedMethods = [
        "activity/call", "activity/cancel", "activity/execute", "activity/heartbeat", "activity/list", "activity/result",
        "contract/release", "initialize", "ping", "shutdown", "worker/list", "worker/register", "workflow/cancel",
        "workflow/describe", "workflow/history", "workflow/list", "workflow/result", "workflow/resume",
        "workflow/run", "workflow/signal", "workflow/start", "workflow/step", "workflow/reset", "workflow/batch", "workflow/terminate",
        "activity/publish", "workflow/follow",
        "schedule/create", "schedule/describe", "schedule/list", "schedule/pause", "schedule/unpause", "schedule/trigger",
        "schedule/delete", "workflow/query", "workflow/update",
    ]

    @Test func everyDocumentedMethodHasAParamsAndAResultSchema() {
        #expect(Self.validator.methods == Self.documentedMethods.sorted())
        #expect(ProtocolSchemas.notifications.map(\.method) == ["activity/cancel", "workflow/cancel"])
    }

    @Test func theEmbeddedSchemasEqualTheFilesInSchemasProtocol() throws {
        let dir = Self.root.appendingPathComponent("Schemas/protocol")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        var embedded: [String: String] = ["common.json": ProtocolSchemas.common]
        for m in ProtocolSchemas.methods {
            let stem = m.method.replacingOccurrences(of: "/", with: ".")
            embedded[stem + ".params.json"] = m.params
            embedded[stem + ".result.json"] = m.result
        }
        for n in ProtocolSchemas.notifications {
            embedded[n.method.replacingOccurrences(of: "/", with: ".") + ".notification.params.json"] = n.params
        }
        #expect(Set(files) == Set(embedded.keys), "run python3 Schemas/generate_swift.py")
        for file in files {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            #expect(
                text.trimmingCharacters(in: .newlines) == embedded[file]?.trimmingCharacters(in: .newlines),
                "\(file) differs from ProtocolSchemas.swift: run python3 Schemas/generate_swift.py")
        }
    }

    @Test func everyProtocolSchemaIsValidAgainstTheDraft2020_12MetaSchema() throws {
        let meta = try Validator(schema: ["$ref": "https://json-schema.org/draft/2020-12/schema"])
        var texts = [("common", ProtocolSchemas.common)]
        for m in ProtocolSchemas.methods { texts += [(m.method + " params", m.params), (m.method + " result", m.result)] }
        for n in ProtocolSchemas.notifications { texts.append((n.method + " notification", n.params)) }
        for (what, text) in texts {
            let schema = try JSONParser.parse(text)
            #expect(meta.validate(schema).isEmpty, "\(what): \(meta.validate(schema))")
            // Receivers ignore unknown fields: no top-level additionalProperties: false.
            #expect(schema["additionalProperties"] == nil && schema["unevaluatedProperties"] == nil, "\(what)")
        }
    }

    // MARK: - docs/protocol.md examples

    /// A message found in an example or transcript, and the method it belongs to.
    struct Checked {
        var method: String
        var kind: String  // params, notification, result
        var value: JSONValue
        var origin: String
    }

    func check(_ c: Checked) -> KeelError? {
        switch c.kind {
        case "params": Self.validator.checkParams(method: c.method, params: c.value)
        case "notification": Self.validator.checkNotificationParams(method: c.method, params: c.value)
        default: Self.validator.checkResult(method: c.method, result: c.value)
        }
    }

    /// The ```json blocks of docs/protocol.md as messages with their methods: a request names its
    /// method; a response takes its request's (by id, across blocks) or else the section's
    /// (`### \`worker/list\``); a block that is a fragment of params (`"workflows":[…], …`) is
    /// read as params of the section's method.
    static func documentExamples() throws -> [Checked] {
        let text = try read("docs/protocol.md")
        var out: [Checked] = []
        var section = ""
        var requests: [String: String] = [:]
        var block: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("### ") {
                let heading = line.dropFirst(4)
                if let a = heading.firstIndex(of: "`"), let b = heading[heading.index(after: a)...].firstIndex(of: "`") {
                    section = String(heading[heading.index(after: a)..<b])
                } else if heading.hasPrefix("Registration") {
                    section = "worker/register"
                } else {
                    section = ""
                }
            }
            if block == nil, line.hasPrefix("```json") {
                block = []
                continue
            }
            guard var lines = block else { continue }
            if line.hasPrefix("```") {
                block = nil
                out += try messages(in: lines, section: section, requests: &requests)
                continue
            }
            lines.append(line)
            block = lines
        }
        return out
    }

    static func messages(in lines: [String], section: String, requests: inout [String: String]) throws -> [Checked] {
        var chunks: [String] = []
        for line in lines {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("→") || t.hasPrefix("←") {
                chunks.append(String(t.dropFirst()))
            } else if chunks.isEmpty {
                chunks.append(line)
            } else {
                chunks[chunks.count - 1] += "\n" + line
            }
        }
        var out: [Checked] = []
        for chunk in chunks {
            guard let value = try? JSONParser.parse(chunk) else {
                // A fragment of a params object.
                let wrapped = try JSONParser.parse("{" + chunk + "}")
                out.append(Checked(method: section, kind: "params", value: wrapped, origin: "docs/protocol.md (\(section))"))
                continue
            }
            let id = value["id"].map { JSONWriter.string($0) }
            if let method = value["method"]?.stringValue {
                if let id { requests[id] = method }
                out.append(
                    Checked(
                        method: method, kind: value["id"] == nil ? "notification" : "params",
                        value: value["params"] ?? [:], origin: "docs/protocol.md: \(chunk.prefix(60))"))
            } else if let result = value["result"] {
                let method = id.flatMap { requests[$0] } ?? section
                out.append(Checked(method: method, kind: "result", value: result, origin: "docs/protocol.md: \(chunk.prefix(60))"))
            }
        }
        return out
    }

    @Test func everyJSONExampleInTheProtocolDocValidatesAgainstItsSchema() throws {
        let examples = try Self.documentExamples()
        let methods = Set(examples.map(\.method))
        // The examples cover these methods; the client operations are documented as a table.
        for m in [
            "initialize", "worker/register", "activity/execute", "activity/heartbeat", "activity/cancel",
            "activity/call", "worker/list", "workflow/run", "workflow/step",
        ] {
            #expect(methods.contains(m), "no example of \(m) found")
        }
        #expect(examples.count >= 14)
        for e in examples {
            let error = check(e)
            #expect(error == nil, "\(e.origin): \(error?.message ?? "")")
        }
    }

    // MARK: - conformance transcripts

    /// Cases whose headers say they send deliberately malformed input (not JSON, invalid
    /// messages, an oversize frame): their lines are not examples of the protocol.
    static let malformedCases: Set<String> = ["12-malformed-line.txt", "13-invalid-request.txt", "18-oversize-frame.txt"]

    /// Lines that disagree with docs/protocol.md, each with the reason (fix the transcript, then
    /// remove the entry).
    /// Transcript lines that knowingly disagree with the schemas (none now; 39 was fixed).
    static let knownDiscrepancies: [(file: String, contains: String, reason: String)] = []

    /// The `>`/`<` lines of a transcript, continuation lines joined and includes expanded.
    static func transcriptLines(_ file: String) throws -> [(direction: Character, text: String)] {
        var out: [(Character, String)] = []
        for raw in try read("clients/conformance/" + file).split(separator: "\n").map(String.init) {
            if raw.hasPrefix("@include ") {
                out += try transcriptLines(String(raw.dropFirst(9)).trimmingCharacters(in: .whitespaces))
            } else if raw.hasPrefix("> ") || raw.hasPrefix("< ") {
                out.append((raw.first!, String(raw.dropFirst(2))))
            } else if raw.hasPrefix(" ") || raw.hasPrefix("\t"), !out.isEmpty {
                out[out.count - 1].1 += " " + raw.trimmingCharacters(in: .whitespaces)
            }
        }
        return out
    }

    /// Drops `"*"` keys (they allow extra keys); nil when a `"*"` value is left (a wildcard).
    static func withoutWildcards(_ v: JSONValue) -> JSONValue? {
        switch v {
        case .string("*"), .string("@any-order"): return nil
        case .object(let o):
            var out: [String: JSONValue] = [:]
            for (k, x) in o where k != "*" {
                // "@without:a,b" may match an absent key: the message is checked without it.
                if x.stringValue?.hasPrefix("@without:") == true { continue }
                guard let y = withoutWildcards(x) else { return nil }
                out[k] = y
            }
            return .object(out)
        case .array(let a):
            var out: [JSONValue] = []
            for x in a {
                guard let y = withoutWildcards(x) else { return nil }
                out.append(y)
            }
            return .array(out)
        default: return v
        }
    }

    static func transcriptMessages() throws -> (checked: [Checked], skipped: Int) {
        let dir = root.appendingPathComponent("clients/conformance")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0.hasSuffix(".txt") && $0.first?.isNumber == true && !malformedCases.contains($0)
        }.sorted()
        var out: [Checked] = []
        var skipped = 0
        for file in files {
            var requests: [String: String] = [:]  // "<direction><id>" → method
            for (direction, text) in try transcriptLines(file) {
                if knownDiscrepancies.contains(where: { $0.file == file && text.contains($0.contains) }) {
                    skipped += 1
                    continue
                }
                guard let parsed = try? JSONParser.parse(text) else {
                    skipped += 1
                    continue
                }
                let members = parsed.arrayValue.map { Array($0.drop { $0 == "@any-order" }) } ?? [parsed]
                for member in members {
                    let id = member["id"].map { JSONWriter.string($0) } ?? ""
                    if let method = member["method"]?.stringValue {
                        requests["\(direction)\(id)"] = method
                    }
                    guard Self.validator.methods.contains(member["method"]?.stringValue ?? "")
                        || (member["result"] != nil && requests["\(direction == ">" ? "<" : ">")\(id)"] != nil)
                    else { continue }
                    guard let clean = withoutWildcards(member) else {
                        skipped += 1
                        continue
                    }
                    let origin = "\(file) \(direction) \(text.prefix(90))"
                    if let method = clean["method"]?.stringValue {
                        out.append(
                            Checked(
                                method: method, kind: clean["id"] == nil ? "notification" : "params",
                                value: clean["params"] ?? [:], origin: origin))
                    } else if let result = clean["result"], let method = requests["\(direction == ">" ? "<" : ">")\(id)"] {
                        out.append(Checked(method: method, kind: "result", value: result, origin: origin))
                    }
                }
            }
        }
        return (out, skipped)
    }

    @Test func everyTranscriptRequestAndResponseOfAKnownMethodValidates() throws {
        let (messages, skipped) = try Self.transcriptMessages()
        let methods = Set(messages.map(\.method))
        for m in ["worker/register", "activity/execute", "activity/heartbeat", "activity/cancel", "ping", "workflow/run", "workflow/step"] {
            #expect(methods.contains(m), "no transcript line of \(m) was checked")
        }
        #expect(messages.count >= 80, "checked \(messages.count), skipped \(skipped)")
        for m in messages {
            let error = check(m)
            #expect(error == nil, "\(m.origin): \(error?.message ?? "")")
        }
    }

    // MARK: - accepted and rejected params

    static let accepted: [(String, String)] = [
        ("initialize", #"{"protocolVersion":"1"}"#),
        ("initialize", #"{"protocolVersion":"1","clientInfo":null,"token":null,"newField":[1]}"#),
        ("ping", #"{}"#),
        ("shutdown", #"{"reason":"ignored"}"#),
        ("worker/register", #"{}"#),
        ("worker/register", #"{"name":"w","maxConcurrent":null,"activities":[{"name":"a.b-c_d"}],"workflows":null}"#),
        ("worker/register", #"{"maxConcurrent":10000,"activities":[{"name":"x","input":true,"output":{"type":"object"},"retryPolicy":null,"timeouts":{"heartbeatMs":null}}]}"#),
        ("worker/list", #"{}"#),
        ("activity/execute", #"{"taskId":"t","name":"a","input":null,"attempt":1}"#),
        ("activity/heartbeat", #"{"taskId":"t"}"#),
        ("activity/publish", #"{"taskId":"t","attempt":1,"name":"token","event":"Hello","attemptToken":null}"#),
        ("workflow/follow", #"{"workflowId":"w","afterOffset":3,"limit":1000,"waitTimeoutMs":30000}"#),
        ("activity/cancel", #"{"taskId":"t"}"#),
        ("activity/call", #"{"name":"greet.hello"}"#),
        ("activity/call", #"{"name":"greet.hello","priority":-1000,"fairnessKey":"acme"}"#),
        ("schedule/create", #"{"scheduleId":"s","spec":{"cron":"0 9 * * MON-FRI","timeZone":"Europe/Paris"},"action":{"workflow":"r.daily","input":{"a":1}},"overlap":"bufferOne"}"#),
        ("schedule/create", #"{"scheduleId":"s","spec":{"intervalMs":60000,"jitterMs":500},"action":{"workflow":"r"},"catchupWindowMs":10000,"paused":true,"note":null}"#),
        ("schedule/list", #"{"limit":10,"cursor":null}"#),
        ("schedule/trigger", #"{"scheduleId":"s","overlap":"allowAll"}"#),
        ("activity/call", #"{"name":"greet.hello","input":5,"idempotencyKey":null,"retryPolicy":{"maximumAttempts":0,"backoffCoefficient":1.5},"timeouts":null,"wait":null,"waitTimeoutMs":0}"#),
        ("activity/result", #"{"taskId":"t-1"}"#),
        ("activity/list", #"{}"#),
        ("activity/list", #"{"status":"scheduled","name":"greet.hello","limit":1000}"#),
        ("activity/result", #"{"taskId":null,"idempotencyKey":"order-17","waitTimeoutMs":null}"#),
        ("workflow/run", #"{"workflowId":"w","runId":0,"name":"o.f","input":{},"journal":[]}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1,"kind":"now"}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":2,"kind":"sleep","name":"nap","input":{"durationMs":0}}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":3,"kind":"signal","name":"go","input":{}}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":4,"kind":"child","name":"o.child","input":{"input":1,"workflowId":null}}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":5,"kind":"activity","name":"m.s","input":{},"options":{"retryPolicy":{"maximumAttempts":5},"timeouts":{"startToCloseMs":10000}}}"#),
        ("workflow/start", #"{"name":"orders.fulfil","input":{"order":17},"workflowId":null,"conflictPolicy":null}"#),
        ("workflow/start", #"{"name":"orders.fulfil","conflictPolicy":"fail"}"#),
        ("workflow/result", #"{"workflowId":"w","waitTimeoutMs":86400000}"#),
        ("workflow/signal", #"{"workflowId":"w","name":"approved"}"#),
        ("workflow/cancel", #"{"workflowId":"w","reason":null}"#),
        ("workflow/describe", #"{"workflowId":"w"}"#),
        ("workflow/list", #"{}"#),
        ("workflow/list", #"{"status":"parked","limit":1000,"cursor":null,"createdAfterMs":0}"#),
        ("workflow/list", #"{"query":"customer = \"acme\" AND startedAt > \"2026-12-01\""}"#),
        ("workflow/query", #"{"workflowId":"w","name":"progress"}"#),
        ("workflow/update", #"{"workflowId":"w","name":"approve","input":{"amount":5},"updateId":"u-1","waitTimeoutMs":0}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":2,"kind":"respond","name":"u-1","input":{"result":{"approved":5}}}"#),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":2,"kind":"respond","name":"u-1","input":{"failure":{"message":"no"}}}"#),
        ("worker/register", #"{"workflows":[{"name":"o"}],"updates":[{"name":"approve","input":{"type":"object"}}]}"#),
        ("workflow/start", #"{"name":"o","workflowId":"w","signal":{"name":"go","payload":{"n":1},"requestId":null}}"#),
        ("workflow/start", #"{"name":"o","searchAttributes":{"customer":"acme","amount":1.5,"vip":true},"memo":{"any":["thing"]}}"#),
        ("workflow/history", #"{"workflowId":"w"}"#),
        ("workflow/resume", #"{"workflowId":"w"}"#),
        ("workflow/history", #"{"workflowId":"w","generation":0}"#),
        ("workflow/reset", #"{"workflowId":"w","toStep":0,"reason":null}"#),
        ("workflow/batch", #"{"operation":"cancel","query":"status=open","dryRun":true,"cursor":null,"limit":1000}"#),
        ("workflow/batch", #"{"operation":"signal","query":"name=a.*","dryRun":false,"signal":{"name":"go","payload":1}}"#),
    ]

    @Test(arguments: accepted)
    func paramsTheDocAllowsAreAccepted(method: String, params: String) throws {
        let error = Self.validator.checkParams(method: method, params: try JSONParser.parse(params))
        #expect(error == nil, "\(method) \(params): \(error?.message ?? "")")
    }

    /// (method, params, expected instance location, expected failing keyword).
    static let rejected: [(String, String, String, String)] = [
        ("initialize", #"{}"#, "", "required"),
        ("initialize", #"{"protocolVersion":1}"#, "/protocolVersion", "type"),
        ("ping", #"[]"#, "", "type"),
        ("worker/register", #"{"maxConcurrent":0}"#, "/maxConcurrent", "minimum"),
        ("worker/register", #"{"maxConcurrent":10001}"#, "/maxConcurrent", "maximum"),
        ("worker/register", #"{"maxConcurrent":1.5}"#, "/maxConcurrent", "type"),
        ("worker/register", #"{"activities":[{"name":"9lives"}]}"#, "/activities/0/name", "pattern"),
        ("worker/register", #"{"activities":[{"name":"a b"}]}"#, "/activities/0/name", "pattern"),
        ("worker/register", #"{"activities":[{"description":"no name"}]}"#, "/activities/0", "required"),
        ("worker/register", #"{"activities":[{"name":"a","input":"string"}]}"#, "/activities/0/input", "type"),
        ("worker/register", #"{"activities":[{"name":"a","retryPolicy":{"backoffCoefficient":0.5}}]}"#,
         "/activities/0/retryPolicy/backoffCoefficient", "minimum"),
        ("worker/register", #"{"activities":{"name":"a"}}"#, "/activities", "type"),
        ("worker/list", #"null"#, "", "type"),
        ("activity/execute", #"{"taskId":"t","name":"a","input":{}}"#, "", "required"),
        ("activity/execute", #"{"taskId":"t","name":"a","input":{},"attempt":0}"#, "/attempt", "minimum"),
        ("activity/heartbeat", #"{"attempt":1}"#, "", "required"),
        ("activity/heartbeat", #"{"taskId":7}"#, "/taskId", "type"),
        ("activity/publish", #"{"taskId":"t"}"#, "", "required"),
        ("activity/publish", #"{"taskId":"t","event":1,"name":""}"#, "/name", "minLength"),
        ("workflow/follow", #"{"afterOffset":0}"#, "", "required"),
        ("workflow/follow", #"{"workflowId":"w","limit":1001}"#, "/limit", "maximum"),
        ("workflow/follow", #"{"workflowId":"w","afterOffset":-1}"#, "/afterOffset", "minimum"),
        ("activity/cancel", #"{"taskId":""}"#, "/taskId", "minLength"),
        ("activity/call", #"{"input":{}}"#, "", "required"),
        ("activity/call", #"{"name":"bad name"}"#, "/name", "pattern"),
        ("activity/call", #"{"name":"a","wait":"yes"}"#, "/wait", "type"),
        ("activity/call", #"{"name":"a","waitTimeoutMs":-1}"#, "/waitTimeoutMs", "minimum"),
        ("activity/call", #"{"name":"a","waitTimeoutMs":86400001}"#, "/waitTimeoutMs", "maximum"),
        ("activity/call", #"{"name":"a","timeouts":{"startToCloseMs":0}}"#, "/timeouts/startToCloseMs", "minimum"),
        ("activity/call", #"{"name":"a","retryPolicy":{"maximumAttempts":-1}}"#, "/retryPolicy/maximumAttempts", "minimum"),
        ("activity/call", #"{"name":"a","retryPolicy":{"nonRetryableErrorTypes":[1]}}"#,
         "/retryPolicy/nonRetryableErrorTypes/0", "type"),
        ("activity/result", #"{"waitTimeoutMs":10}"#, "", "anyOf"),
        ("workflow/run", #"{"workflowId":"w","runId":1,"name":"o","input":{},"journal":[{"seq":1,"kind":"timer","name":"t","status":"completed","result":null}]}"#,
         "/journal/0/kind", "enum"),
        ("workflow/run", #"{"workflowId":"w","runId":1,"name":"o","input":{},"journal":[{"seq":1,"kind":"sleep","name":"sleep","status":"completed"}]}"#,
         "/journal/0", "required"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1}"#, "", "required"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1,"kind":"timer"}"#, "/kind", "enum"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":0,"kind":"now"}"#, "/seq", "minimum"),
        ("workflow/step", #"{"workflowId":"w","runId":"1","seq":1,"kind":"now"}"#, "/runId", "type"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1,"kind":"sleep","input":{}}"#, "/input", "required"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1,"kind":"sleep","input":{"durationMs":-5}}"#,
         "/input/durationMs", "minimum"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1,"kind":"activity","name":"no spaces"}"#, "/name", "pattern"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":1,"kind":"activity","name":"a","options":{"timeouts":{"startToCloseMs":"10s"}}}"#,
         "/options/timeouts/startToCloseMs", "type"),
        ("workflow/start", #"{"name":"o","conflictPolicy":"replace"}"#, "/conflictPolicy", "enum"),
        ("workflow/start", #"{"name":"o","workflowId":""}"#, "/workflowId", "minLength"),
        ("workflow/result", #"{}"#, "", "required"),
        ("workflow/signal", #"{"workflowId":"w"}"#, "", "required"),
        ("workflow/cancel", #"{"workflowId":"w","reason":5}"#, "/reason", "type"),
        ("workflow/describe", #"{"workflowId":null}"#, "/workflowId", "type"),
        ("workflow/list", #"{"limit":1001}"#, "/limit", "maximum"),
        ("workflow/list", #"{"status":"sleeping"}"#, "/status", "enum"),
        ("workflow/query", #"{"workflowId":"w"}"#, "", "required"),
        ("workflow/update", #"{"workflowId":"w","name":"approve","updateId":""}"#, "/updateId", "minLength"),
        ("workflow/update", #"{"workflowId":"w","name":"approve","waitTimeoutMs":-1}"#, "/waitTimeoutMs", "minimum"),
        ("workflow/step", #"{"workflowId":"w","runId":1,"seq":2,"kind":"respond","name":"u-1","input":{"result":1,"failure":{"message":"x"}}}"#, "/input", "oneOf"),
        ("workflow/start", #"{"name":"o","signal":{"payload":1}}"#, "/signal", "required"),
        ("workflow/start", #"{"name":"o","searchAttributes":{"tags":[1]}}"#, "/searchAttributes/tags", "type"),
        ("activity/list", #"{"status":"completed"}"#, "/status", "enum"),
        ("activity/list", #"{"limit":0}"#, "/limit", "minimum"),
        ("workflow/history", #"{"workflowId":["w"]}"#, "/workflowId", "type"),
        ("workflow/resume", #"{}"#, "", "required"),
        ("workflow/reset", #"{"workflowId":"w","toStep":-1}"#, "/toStep", "minimum"),
        ("workflow/reset", #"{"workflowId":"w"}"#, "", "required"),
        ("workflow/batch", #"{"operation":"kill","query":"status=open","dryRun":true}"#, "/operation", "enum"),
        ("workflow/batch", #"{"operation":"cancel","query":"status=open"}"#, "", "required"),
        ("workflow/batch", #"{"operation":"signal","query":"q","dryRun":false,"signal":{"payload":1}}"#, "/signal", "required"),
        ("workflow/terminate", #"{"reason":"x"}"#, "", "required"),
        ("workflow/start", #"{"name":"o","executionTimeoutMs":0}"#, "/executionTimeoutMs", "minimum"),
        ("contract/release", #"{"name":"greet.hello","kind":"job"}"#, "/kind", "enum"),
        ("activity/call", #"{"name":"a","priority":1001}"#, "/priority", "maximum"),
        ("schedule/create", #"{"scheduleId":"s","spec":{"intervalMs":500},"action":{"workflow":"r"}}"#, "/spec/intervalMs", "minimum"),
        ("schedule/describe", #"{}"#, "", "required"),
        ("schedule/list", #"{"limit":0}"#, "/limit", "minimum"),
        ("schedule/pause", #"{"scheduleId":""}"#, "/scheduleId", "minLength"),
        ("schedule/unpause", #"{"scheduleId":5}"#, "/scheduleId", "type"),
        ("schedule/trigger", #"{"scheduleId":"s","overlap":"sometimes"}"#, "/overlap", "enum"),
        ("schedule/delete", #"{}"#, "", "required"),
    ]

    @Test(arguments: rejected)
    func badParamsAreRejectedWithThePointerToTheBadValue(method: String, params: String, pointer: String, keyword: String) throws {
        let error = try #require(Self.validator.checkParams(method: method, params: try JSONParser.parse(params)))
        #expect(error.code == .invalidParams)
        #expect(error.message.hasPrefix("params of \(method): at \(pointer.isEmpty ? "/" : pointer): "), "\(error.message)")
        let errors = try #require(error.data?["errors"]?.arrayValue)
        #expect(
            errors.contains { $0["instanceLocation"]?.stringValue == pointer && $0["keyword"]?.stringValue == keyword },
            "\(method) \(params): \(errors.map { JSONWriter.string($0) })")
        for e in errors {
            for key in ["instanceLocation", "keywordLocation", "keyword", "message"] { #expect(e[key]?.stringValue != nil) }
        }
    }

    @Test func everyMethodRejectsSomeBadParams() {
        #expect(Set(Self.rejected.map(\.0)) == Set(Self.documentedMethods).subtracting(["shutdown"]))
    }

    // MARK: - results, notifications, unknown methods

    @Test func badResultsAreRejected() throws {
        let cases: [(String, String, String)] = [
            ("activity/call", #"{"taskId":"t","status":"done"}"#, "/status"),
            ("activity/call", #"{"taskId":"t","status":"failed"}"#, ""),
            ("activity/execute", #"{"outcome":1}"#, ""),
            ("activity/execute", #"{"failure":{"message":"no type"}}"#, "/failure"),
            ("workflow/step", #"{"status":"completed"}"#, ""),
            ("workflow/run", #"{"status":"continueAsNew"}"#, ""),
            ("worker/list", #"{"workers":[{"workerId":"w-1","name":"x","activities":["a"],"maxConcurrent":0}]}"#,
             "/workers/0/maxConcurrent"),
            ("initialize", #"{"protocolVersion":"1"}"#, ""),
            ("workflow/update", #"{"workflowId":"w","updateId":"u","status":"completed"}"#, ""),
            ("workflow/update", #"{"workflowId":"w","updateId":"u","status":"answered"}"#, "/status"),
        ]
        for (method, text, pointer) in cases {
            let error = try #require(Self.validator.checkResult(method: method, result: try JSONParser.parse(text)), "\(method) \(text)")
            #expect(error.message.hasPrefix("result of \(method): at \(pointer.isEmpty ? "/" : pointer): "), "\(error.message)")
        }
    }

    @Test func theCancelNotificationNeedsItsAttemptButTheRequestDoesNot() throws {
        let bare = try JSONParser.parse(#"{"taskId":"t-1"}"#)
        #expect(Self.validator.checkParams(method: "activity/cancel", params: bare) == nil)
        let error = try #require(Self.validator.checkNotificationParams(method: "activity/cancel", params: bare))
        #expect(error.message.hasPrefix("params of activity/cancel: at /: "))
        // Methods without a notification schema use the request's.
        #expect(Self.validator.checkNotificationParams(method: "shutdown", params: [:]) == nil)
    }

    @Test func unknownMethodsAreLeftToTheEngine() {
        #expect(Self.validator.checkParams(method: "no/such", params: .null) == nil)
        #expect(Self.validator.checkResult(method: "no/such", result: .null) == nil)
    }

    @Test func manyErrorsAreCappedAndCounted() throws {
        var params: [String: JSONValue] = [:]
        for k in ["name", "retryPolicy", "timeouts", "wait", "waitTimeoutMs", "idempotencyKey"] { params[k] = .array([]) }
        let error = try #require(Self.validator.checkParams(method: "activity/call", params: .object(params)))
        let count = try #require(error.data?["errors"]?.arrayValue?.count)
        #expect(count >= 6 && count <= ProtocolValidator.maxErrors)
        #expect(error.message.contains("(and \(count - 1) more)"))
    }

    // MARK: - speed (printed, not asserted)

    @Test func printsNanosecondsPerCheck() throws {
        let call = try JSONParser.parse(
            #"{"name":"greet.hello","input":{"name":"Ada"},"idempotencyKey":"order-17","retryPolicy":{"maximumAttempts":3},"timeouts":{"startToCloseMs":30000},"wait":true,"waitTimeoutMs":60000}"#
        )
        let step = try JSONParser.parse(
            #"{"workflowId":"order-17","runId":3,"seq":3,"kind":"activity","name":"mail.send","input":{"to":"ada@example.com"},"options":{"retryPolicy":{"maximumAttempts":5},"timeouts":{"startToCloseMs":10000}}}"#
        )
        for (method, params) in [("activity/call", call), ("workflow/step", step)] {
            #expect(Self.validator.checkParams(method: method, params: params) == nil)
            let clock = ContinuousClock()
            var best = Double.infinity
            let n = 20_000
            var sink = 0
            for _ in 0..<5 {
                let t = clock.measure {
                    for _ in 0..<n where Self.validator.checkParams(method: method, params: params) != nil { sink += 1 }
                }
                best = min(best, (Double(t.components.seconds) * 1e9 + Double(t.components.attoseconds) / 1e9) / Double(n))
            }
            print("ProtocolValidator.checkParams(\(method)): \(Int(best)) ns per check\(sink > 0 ? "!" : "")")
        }
    }
}
