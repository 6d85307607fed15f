import KeelCore
import Tracing

/// The OTLP/JSON encoding of an `ExportTraceServiceRequest` holding one span
/// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): ids as hex, 64-bit
/// integers as decimal strings, enums as numbers.
enum OTLPJSON {
    static func request(for span: FinishedSpan, serviceName: String) -> JSONValue {
        [
            "resourceSpans": [
                [
                    "resource": ["attributes": [attribute("service.name", ["stringValue": .string(serviceName)])]],
                    "scopeSpans": [["scope": ["name": "keel"], "spans": [encode(span)]]],
                ]
            ]
        ]
    }

    static func encode(_ span: FinishedSpan) -> JSONValue {
        var o: [String: JSONValue] = [
            "traceId": .string(span.identity?.traceID ?? ""), "spanId": .string(span.identity?.spanID ?? ""),
            "name": .string(span.name), "kind": JSONValue(kindNumber(span.kind)),
            "startTimeUnixNano": .string(String(span.startNanos)), "endTimeUnixNano": .string(String(span.endNanos)),
        ]
        if let parent = span.identity?.parentSpanID { o["parentSpanId"] = .string(parent) }
        var attributes: [JSONValue] = []
        span.attributes.forEach { key, value in
            if let v = anyValue(value) { attributes.append(attribute(key, v)) }
        }
        o["attributes"] = .array(attributes.sorted { ($0["key"]?.stringValue ?? "") < ($1["key"]?.stringValue ?? "") })
        switch span.status?.code {
        case .ok: o["status"] = ["code": 1]
        case .error: o["status"] = ["code": 2, "message": .string(span.status?.message ?? "")]
        case nil: o["status"] = [:]
        }
        return .object(o)
    }

    private static func attribute(_ key: String, _ value: JSONValue) -> JSONValue {
        ["key": .string(key), "value": value]
    }

    private static func anyValue(_ value: SpanAttribute) -> JSONValue? {
        switch value {
        case .string(let s): ["stringValue": .string(s)]
        case .stringConvertible(let s): ["stringValue": .string(s.description)]
        case .int32(let i): ["intValue": .string(String(i))]
        case .int64(let i): ["intValue": .string(String(i))]
        case .double(let d): ["doubleValue": JSONValue(d)]
        case .bool(let b): ["boolValue": .bool(b)]
        default: nil
        }
    }

    private static func kindNumber(_ kind: SpanKind) -> Int {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }
}
