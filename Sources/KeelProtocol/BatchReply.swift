import KeelCore

/// Limits on batches for one connection (see ``RPCConnection/maxBatchItems``).
struct BatchLimits: Sendable {
    var maxItems = 1024
    var maxReplyBytes = LineFrameDecoder.defaultMaximumFrameBytes
    var allowed = true
}

/// A batch's answer, serialized as it is built and bounded by the frame limit: once the next
/// answer would make the line exceed `limit`, what was built is dropped and the reply becomes one
/// `-32002 messageTooLarge` error (issue 10, item 4: 8 MB of invalid items once took 4 GB).
struct BatchReply {
    let limit: Int
    private var bytes: [UInt8] = [0x5B]  // "["
    private var count = 0
    /// Bytes the full answer would have taken, once it no longer fits.
    private var overflowBytes: Int?

    init(limit: Int) { self.limit = limit }

    mutating func append(_ message: RPCMessage) {
        let encoded = JSONWriter.bytes(message.json)
        if let seen = overflowBytes {
            overflowBytes = seen + encoded.count + 1
            return
        }
        // The line ends with "]" (and "\n", which the frame limit does not count).
        if bytes.count + (count > 0 ? 1 : 0) + encoded.count + 1 > limit {
            overflowBytes = bytes.count + encoded.count + 2
            bytes = []
            return
        }
        if count > 0 { bytes.append(0x2C) }  // ","
        bytes.append(contentsOf: encoded)
        count += 1
    }

    /// The line to write (with its newline), or nil when there is nothing to answer.
    func line() -> [UInt8]? {
        if let total = overflowBytes {
            let error = KeelError(
                .messageTooLarge,
                "the batch's answer of \(total) bytes exceeds the frame limit of \(limit); the items ran but their answers were dropped",
                data: ["bytes": JSONValue(total), "reply": true])
            return RPCMessage.error(id: nil, error: RPCErrorObject(error)).line
        }
        guard count > 0 else { return nil }
        return bytes + [0x5D, 0x0A]  // "]\n"
    }
}
