import FuzzSupport
import KeelCore
import KeelProtocol
import NIOCore

runFuzzer(fuzzFrames)

/// fuzz-frames: the line decoder and JSON-RPC decoding, as a connection runs them.
///
/// Input layout: byte 0 picks the frame limit (1…256 bytes, so oversized lines are common), byte 1
/// seeds the chunk sizes; the rest is the stream. Properties checked on every input:
/// - feeding the stream in arbitrary chunks yields exactly the frames of feeding it whole;
/// - every line decodes (JSON, then `RPCMessage.decode`) without crashing;
/// - a decoded message written with `RPCMessage.line` reads back as the same message.
func fuzzFrames(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard bytes.count >= 2 else { return }
    let limit = Int(bytes[0]) + 1
    var seed = UInt32(bytes[1]) | 0x100
    let stream = UnsafeBufferPointer(rebasing: bytes[2...])

    let whole = frames(of: stream, limit: limit) { _ in stream.count }
    let chunked = frames(of: stream, limit: limit) { remaining in
        seed = seed &* 1_103_515_245 &+ 12_345  // a small LCG: the chunk sizes vary with byte 1
        return min(remaining, Int(seed >> 16) % 17 + 1)
    }
    check(whole == chunked, "chunked decoding differs: \(whole) vs \(chunked)")

    for case .line(let bytes) in whole { checkMessage(bytes) }
}

/// A frame in comparable form.
enum DecodedFrame: Equatable {
    case line([UInt8])
    case oversized(Int)
}

/// Every frame the decoder emits for `stream`, delivered in chunks of `nextChunk(remaining)` bytes.
func frames(
    of stream: UnsafeBufferPointer<UInt8>, limit: Int, nextChunk: (Int) -> Int
) -> [DecodedFrame] {
    var decoder = LineFrameDecoder(maximumFrameBytes: limit)
    var buffer = ByteBuffer()
    var result: [DecodedFrame] = []
    var offset = 0
    while offset < stream.count {
        let n = max(1, nextChunk(stream.count - offset))
        buffer.writeBytes(UnsafeBufferPointer(rebasing: stream[offset..<offset + n]))
        offset += n
        while let frame = decoder.nextFrame(&buffer) {
            switch frame {
            case .line(let line): result.append(.line(Array(line.readableBytesView)))
            case .oversized(let bytes): result.append(.oversized(bytes))
            }
        }
    }
    return result
}

/// Parses a line as the connection does and checks that a valid message survives a round trip.
func checkMessage(_ line: [UInt8]) {
    guard let value = try? JSONParser.parse(line) else { return }
    let values: [JSONValue]
    if case .array(let batch) = value { values = batch } else { values = [value] }
    for value in values {
        guard case .success(let message) = RPCMessage.decode(value) else { continue }
        let written = message.line
        guard let reread = try? JSONParser.parse(written.dropLast()) else {
            fatalError("RPCMessage.line is not JSON: \(String(decoding: written, as: UTF8.self))")
        }
        guard case .success(let again) = RPCMessage.decode(reread) else {
            fatalError("RPCMessage.line does not decode: \(String(decoding: written, as: UTF8.self))")
        }
        check(again == message, "message changed in a round trip: \(String(decoding: written, as: UTF8.self))")
    }
}
