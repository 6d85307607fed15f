public import ServiceContextModule

/// The identity of a span as it travels in a `ServiceContext`: its trace, itself, and its parent.
public struct SpanIdentity: Sendable, Hashable {
    /// 32 lowercase hex digits.
    public var traceID: String
    /// 16 lowercase hex digits.
    public var spanID: String
    /// The parent's span id; nil for a root span.
    public var parentSpanID: String?

    /// Makes an identity from known parts.
    public init(traceID: String, spanID: String, parentSpanID: String?) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
    }

    /// A fresh random id of `bytes` bytes as lowercase hex, never all zero.
    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let digits = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
            guard digits.contains(where: { $0 != 0 }) else { continue }
            return digits.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        }
    }
}

extension ServiceContext {
    /// The span this context belongs to (or the remote parent a `traceparent` named), if any.
    public var spanIdentity: SpanIdentity? {
        get { self[SpanIdentityKey.self] }
        set { self[SpanIdentityKey.self] = newValue }
    }
}

private enum SpanIdentityKey: ServiceContextKey {
    typealias Value = SpanIdentity
}
