import KeelProtocol
import NIOCore
import Testing

@Suite("Line framing")
struct LineFrameDecoderTests {
    /// Feeds `input` to a decoder in pieces split at `cuts` and returns what it produced.
    func decode(_ input: [UInt8], cuts: [Int], limit: Int = 1024) -> [String] {
        var decoder = LineFrameDecoder(maximumFrameBytes: limit)
        var buffer = ByteBuffer()
        var out: [String] = []
        var start = 0
        for end in cuts + [input.count] where end >= start {
            buffer.writeBytes(input[start..<end])
            start = end
            while let frame = decoder.nextFrame(&buffer) {
                switch frame {
                case .line(let b): out.append(String(buffer: b))
                case .oversized(let n): out.append("<oversized \(n)>")
                }
            }
        }
        return out
    }

    @Test func splittingAtEveryByteGivesTheSameFrames() {
        let input = Array("{\"a\":1}\n{\"b\":2}\r\n\n[3]\n".utf8)
        let expected = ["{\"a\":1}", "{\"b\":2}", "", "[3]"]
        #expect(decode(input, cuts: []) == expected)
        for cut in 0...input.count {
            #expect(decode(input, cuts: [cut]) == expected, "cut at \(cut)")
        }
        #expect(decode(input, cuts: Array(0...input.count)) == expected)
    }

    @Test func manyFramesInOneBuffer() {
        let lines = (0..<1000).map { "{\"i\":\($0)}" }
        let input = Array((lines.joined(separator: "\n") + "\n").utf8)
        #expect(decode(input, cuts: []) == lines)
    }

    @Test func anOversizedLineIsReportedOnceAndTheNextLineStillArrives() {
        let big = String(repeating: "x", count: 5000)
        let input = Array("ok1\n\(big)\nok2\n".utf8)
        #expect(decode(input, cuts: [], limit: 100) == ["ok1", "<oversized 5000>", "ok2"])
        #expect(decode(input, cuts: Array(stride(from: 0, to: input.count, by: 7)), limit: 100) == ["ok1", "<oversized 5000>", "ok2"])
    }

    @Test func bufferedBytesStayUnderTheLimitWhileDiscarding() {
        var decoder = LineFrameDecoder(maximumFrameBytes: 64)
        var buffer = ByteBuffer()
        for _ in 0..<1000 {
            buffer.writeBytes([UInt8](repeating: 0x61, count: 100))
            _ = decoder.nextFrame(&buffer)
            #expect(buffer.readableBytes <= 164)
        }
    }
}
