public import NIOCore

/// What the line decoder hands up: a complete line, or notice that one was too long.
public enum Frame: Sendable {
    /// One line without its terminator (`\n`, or `\r\n`).
    case line(ByteBuffer)
    /// A line longer than the limit was discarded; `bytes` is how much of it was seen.
    case oversized(bytes: Int)
}

/// Splits a byte stream into newline-terminated frames of at most `maximumFrameBytes`.
///
/// The one decoder for every transport (Unix socket, TCP, a child's stdout), as STYLE.md §5 asks.
/// An oversized line is not fatal: the decoder emits ``Frame/oversized(bytes:)`` once, discards up
/// to the next newline, and resumes, so the connection can answer with `-32002` and stay up.
/// Buffered bytes never exceed the limit, which bounds memory per connection.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// The default frame limit, 16 MiB (DESIGN.md, "Payloads are not capped at a few MB").
    public static let defaultMaximumFrameBytes = 16 * 1024 * 1024

    /// The limit now in force (it can be raised while the connection is open).
    public var maximumFrameBytes: Int { limit.value }
    private let limit: FrameLimit
    private var discarding = 0  // > 0 while skipping an oversized line: bytes skipped so far
    private var scanned = 0  // bytes of the current line already searched for a newline

    public init(maximumFrameBytes: Int = LineFrameDecoder.defaultMaximumFrameBytes) {
        self.limit = FrameLimit(maximumFrameBytes)
    }

    /// A decoder whose limit follows `limit`, e.g. small until the handshake completes.
    public init(limit: FrameLimit) {
        self.limit = limit
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = nextFrame(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A partial line at EOF is dropped: the peer closed mid-message, so there is nobody to answer.
        while let frame = nextFrame(&buffer) { context.fireChannelRead(wrapInboundOut(frame)) }
        buffer.clear()
        return .needMoreData
    }

    /// The next frame in `buffer`, consuming it; nil when more bytes are needed.
    /// Exposed for transports that do not run a NIO pipeline and for tests.
    public mutating func nextFrame(_ buffer: inout ByteBuffer) -> Frame? {
        if discarding > 0 {
            if let nl = buffer.readableBytesView.firstIndex(of: 0x0A) {
                let skipped = discarding + (nl - buffer.readerIndex)
                buffer.moveReaderIndex(to: nl + 1)
                discarding = 0
                return .oversized(bytes: skipped)
            }
            discarding += buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            buffer.discardReadBytes()
            return nil
        }
        let maximumFrameBytes = self.maximumFrameBytes
        let view = buffer.readableBytesView
        let searchStart = view.startIndex + scanned
        if let nl = view[searchStart...].firstIndex(of: 0x0A) {
            let length = nl - view.startIndex
            scanned = 0
            if length > maximumFrameBytes {
                buffer.moveReaderIndex(forwardBy: length + 1)
                return .oversized(bytes: length)
            }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            return .line(line)
        }
        scanned = view.count
        if view.count > maximumFrameBytes {
            discarding = view.count
            scanned = 0
            buffer.moveReaderIndex(forwardBy: view.count)
            buffer.discardReadBytes()
        }
        return nil
    }
}
