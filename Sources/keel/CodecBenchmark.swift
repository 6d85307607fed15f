import Foundation
import KeelCore

/// Keel's JSON parser and writer against Foundation's JSONSerialization, on the messages Keel
/// handles most: an `activity/execute` request and a `workflow/step` answer.
enum CodecBenchmark {
    static let messages = [
        #"{"jsonrpc":"2.0","id":"k7","method":"activity/execute","params":{"taskId":"t-01jx2","name":"billing.charge","input":{"orderId":12345,"sku":"KEEL-1","quantity":2,"note":"bench","lines":[{"sku":"A","qty":1,"price":9.99},{"sku":"B","qty":3,"price":0.1}]},"attempt":1,"idempotencyKey":"order-17","deadlineMs":1764190000000,"heartbeatTimeoutMs":null,"heartbeatDetails":null,"workflowId":null}}"#,
        #"{"jsonrpc":"2.0","id":40,"result":{"status":"completed","result":{"charged":true,"receipt":"r-9f2","amount":{"currency":"EUR","value":"19.98"}}}}"#,
    ]

    static func time(_ iterations: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        for _ in 0..<iterations { try body() }
        let d = start.duration(to: .now)
        return (Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9) / Double(iterations)
    }

    static func run() -> String {
        let n = 50_000
        var lines = ["JSON codec, ns per message (parse + write), median of 5 runs of \(n):"]
        for (i, text) in messages.enumerated() {
            let bytes = Array(text.utf8)
            let data = Data(bytes)
            var ours: [Double] = [], foundation: [Double] = []
            for _ in 0..<5 {
                ours.append(time(n) {
                    let v = try! JSONParser.parse(bytes)
                    _ = JSONWriter.bytes(v)
                })
                foundation.append(time(n) {
                    let v = try! JSONSerialization.jsonObject(with: data)
                    _ = try! JSONSerialization.data(withJSONObject: v)
                })
            }
            let o = ours.sorted()[2], f = foundation.sorted()[2]
            lines.append(String(format: "  message %d (%d bytes): Keel %.0f ns, JSONSerialization %.0f ns (%.1f× faster)", i + 1, bytes.count, o, f, f / o))
        }
        return lines.joined(separator: "\n")
    }
}
