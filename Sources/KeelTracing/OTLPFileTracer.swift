public import Instrumentation
import KeelCore
public import ServiceContextModule
public import Tracing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `Tracer` that appends every ended span to a file as one OTLP/JSON line (an
/// `ExportTraceServiceRequest` holding that span), the format the OpenTelemetry Collector's
/// `otlpjsonfile` receiver reads. Context travels as W3C `traceparent` (``TraceParent``).
///
/// Keel's engine only talks to the `Tracer` API, so bootstrapping another tracer (swift-otel's
/// OTLP exporter) replaces this one without engine changes (docs/decisions/0006-traces.md).
public final class OTLPFileTracer: Tracer, Sendable {
    public typealias Span = OTLPSpan

    /// The `service.name` resource attribute written with every span.
    public let serviceName: String
    private let descriptor: Int32
    private let onWriteError: @Sendable (String) -> Void
    private let writeLock = Locked(())

    /// Opens (creating, appending) `path`. Throws `KeelError(.invalidParams)` if it cannot be opened.
    public init(path: String, serviceName: String = "keel", onWriteError: @escaping @Sendable (String) -> Void) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw KeelError(.invalidParams, "cannot open the trace file \(path): \(String(cString: strerror(errno)))")
        }
        self.descriptor = fd
        self.serviceName = serviceName
        self.onWriteError = onWriteError
    }

    deinit { close(descriptor) }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> OTLPSpan {
        var context = context()
        let parent = context.spanIdentity
        let identity = SpanIdentity(
            traceID: parent?.traceID ?? SpanIdentity.randomHex(bytes: 16), spanID: SpanIdentity.randomHex(bytes: 8),
            parentSpanID: parent?.spanID)
        context.spanIdentity = identity
        return OTLPSpan(
            operationName: operationName, context: context, kind: kind,
            startNanos: instant().nanosecondsSinceEpoch
        ) { [self] finished in export(finished) }
    }

    public func forceFlush() {}

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Carrier == Inject.Carrier {
        guard let identity = context.spanIdentity else { return }
        let header = TraceParent(traceID: identity.traceID, spanID: identity.spanID)
        injector.inject(header.description, forKey: TraceParent.headerName, into: &carrier)
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Carrier == Extract.Carrier {
        guard let text = extractor.extract(key: TraceParent.headerName, from: carrier),
            case .success(let header) = TraceParent.parse(text)
        else { return }
        context.spanIdentity = SpanIdentity(traceID: header.traceID, spanID: header.spanID, parentSpanID: nil)
    }

    private func export(_ span: FinishedSpan) {
        var line = JSONWriter.bytes(OTLPJSON.request(for: span, serviceName: serviceName))
        line.append(UInt8(ascii: "\n"))
        let failure: String? = writeLock.withLock { _ in
            var offset = 0
            while offset < line.count {
                let n = line[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                offset += n
            }
            return nil
        }
        if let failure { onWriteError(failure) }
    }
}

extension TraceParent {
    /// The carrier key of the W3C header (and of the JSON-RPC param that carries it).
    public static let headerName = "traceparent"
}
