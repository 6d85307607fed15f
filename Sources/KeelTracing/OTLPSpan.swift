public import ServiceContextModule
import KeelCore
public import Tracing

/// A span of ``OTLPFileTracer``: recorded in memory until `end`, then written once.
public final class OTLPSpan: Tracing.Span, Sendable {
    public let context: ServiceContext
    /// The kind given at start.
    public let kind: SpanKind
    private let startNanos: UInt64
    private let state: Locked<State>
    private let onEnd: @Sendable (FinishedSpan) -> Void

    private struct State {
        var name: String
        var attributes: SpanAttributes = [:]
        var events: [SpanEvent] = []
        var status: SpanStatus?
        var recording = true
    }

    init(operationName: String, context: ServiceContext, kind: SpanKind, startNanos: UInt64,
        onEnd: @escaping @Sendable (FinishedSpan) -> Void)
    {
        self.context = context
        self.kind = kind
        self.startNanos = startNanos
        self.state = Locked(State(name: operationName))
        self.onEnd = onEnd
    }

    public var isRecording: Bool { state.withLock { $0.recording } }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { if $0.recording { $0.name = newValue } } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { if $0.recording { $0.attributes = newValue } } }
    }

    public func setStatus(_ status: SpanStatus) { state.withLock { if $0.recording { $0.status = status } } }

    public func addEvent(_ event: SpanEvent) { state.withLock { if $0.recording { $0.events.append(event) } } }

    /// Links are not exported by this tracer.
    public func addLink(_ link: SpanLink) {}

    public func recordError(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> some TracerInstant) {
        var attributes = attributes
        attributes["exception.message"] = "\(error)"
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: attributes))
    }

    public func end(at instant: @autoclosure () -> some TracerInstant) {
        let finished: FinishedSpan? = state.withLock { s in
            guard s.recording else { return nil }
            s.recording = false
            return FinishedSpan(
                name: s.name, identity: context.spanIdentity, kind: kind, startNanos: startNanos,
                endNanos: instant().nanosecondsSinceEpoch, attributes: s.attributes, status: s.status)
        }
        if let finished { onEnd(finished) }
    }
}

/// What an ended span hands to the exporter.
struct FinishedSpan: Sendable {
    var name: String
    var identity: SpanIdentity?
    var kind: SpanKind
    var startNanos: UInt64
    var endNanos: UInt64
    var attributes: SpanAttributes
    var status: SpanStatus?
}
