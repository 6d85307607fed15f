// keel-swift-worker: a Swift worker process on KeelClient.
//   --conformance  the fixed conformance activities and wf.* workflows (clients/conformance/README.md)
//   (default)      swift.upper and swift.greet, used by the cross-language tests
import Dispatch
import Foundation
import KeelClient
import KeelCore
import Synchronization

struct CrashError: Error, CustomStringConvertible {
    var description: String { "boom" }
}

/// Releases `barrier` calls once `count` of them run at once.
actor Barrier {
    var waiting = 0
    var waiters: [CheckedContinuation<Void, Never>] = []
    func arrive(count: Int) async {
        waiting += 1
        if waiting >= count {
            for w in waiters { w.resume() }
            waiters = []
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }
}

let endpoints = Endpoint.listFromEnvironment(ProcessInfo.processInfo.environment)
let conformance = CommandLine.arguments.contains("--conformance")
let worker = Worker(name: conformance ? "conformance-worker" : "swift-worker", endpoints: endpoints, maxConcurrent: conformance ? 4 : 16)
let barrier = Barrier()

if conformance {
    worker.activity("echo", input: ["type": "object"], output: ["type": "object"], description: "Returns its input.") { (input: JSONValue, _) -> JSONValue in
        print("a stray print from echo: must reach stderr, never the wire")
        return input
    }
    worker.activity("upper_sync") { (input: JSONValue, _) -> JSONValue in
        ["text": .string((input["text"]?.stringValue ?? "").uppercased())]
    }
    worker.activity("fail") { (input: JSONValue, _) -> JSONValue in
        throw ActivityFailure("fail was called", type: "BadInput", retryable: false, details: ["input": input])
    }
    worker.activity("retry", retryPolicy: ["maximumAttempts": 3, "nonRetryableErrorTypes": ["BadInput"]], timeouts: ["startToCloseMs": 5000]) { (_: JSONValue, _) -> JSONValue in
        throw ActivityFailure("429 from the API", type: "RateLimited", retryable: true, retryAfterMs: 2000, details: ["status": 429])
    }
    worker.activity("crash") { (_: JSONValue, _) -> JSONValue in throw CrashError() }
    worker.activity("hb") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.heartbeat(["page": 1])
        try await ctx.heartbeat(["page": 2])
        return ["taskId": .string(ctx.taskId), "attempt": JSONValue(ctx.attempt), "idempotencyKey": .string(ctx.idempotencyKey),
            "previous": ctx.heartbeatDetails ?? .null]
    }
    worker.activity("slow") { (_: JSONValue, ctx) -> JSONValue in
        if try await ctx.heartbeat(["started": true]) { return ["cancelled": true] }
        let cancelled = await ctx.sleep(for: .seconds(30))
        return ["cancelled": .bool(cancelled)]
    }
    worker.activity("barrier") { (input: JSONValue, _) -> JSONValue in
        await barrier.arrive(count: Int(input["count"]?.int64Value ?? 1))
        return ["released": true]
    }
    worker.activity("sleep") { (input: JSONValue, _) -> JSONValue in
        let ms = input["ms"]?.int64Value ?? 0
        try await Task.sleep(for: .milliseconds(ms))
        return ["slept": JSONValue(ms)]
    }
    worker.activity("progress") { (input: JSONValue, ctx) -> JSONValue in
        let steps = input["steps"]?.int64Value ?? 0
        for step in 0..<steps { try await ctx.publish(["step": JSONValue(step + 1)], name: "progress") }
        return ["published": JSONValue(steps)]
    }
    worker.workflow("wf.sequence") { (input: JSONValue, ctx) -> JSONValue in
        let r1: JSONValue = try await ctx.activity("echo", ["n": input["n"] ?? 0] as JSONValue)
        let r2: JSONValue = try await ctx.activity("echo", ["n": JSONValue((r1["n"]?.int64Value ?? 0) + 1)] as JSONValue)
        return ["n": r2["n"] ?? .null]
    }
    worker.workflow("wf.parallel") { (_: JSONValue, ctx) -> JSONValue in
        let first = try ctx.startActivity("echo", ["i": 1] as JSONValue, as: JSONValue.self)
        let second = try ctx.startActivity("echo", ["i": 2] as JSONValue, as: JSONValue.self)
        async let a = first.value
        async let b = second.value
        return ["a": try await a, "b": try await b]
    }
    worker.workflow("wf.sleepSignal") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.sleep(for: .seconds(1))
        let s: JSONValue = try await ctx.signal("go")
        return ["signal": s]
    }
    worker.workflow("wf.sideEffects") { (_: JSONValue, ctx) -> JSONValue in
        let t = try await ctx.now()
        let r = try await ctx.random()
        let u = try await ctx.uuid()
        return ["t": JSONValue(t), "r": JSONValue(r), "u": .string(u)]
    }
    worker.workflow("wf.publish") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.publish(["pct": 50], name: "progress")
        try await ctx.publish("done")
        return ["published": 2]
    }
    worker.workflow("wf.upsert") { (_: JSONValue, ctx) -> JSONValue in
        let attributes = try await ctx.upsertSearchAttributes(["customer": "acme", "amount": 42, "vip": true])
        try await ctx.upsertSearchAttributes(["vip": nil])
        let memo = try await ctx.upsertMemo(["note": "hi"])
        return ["attributes": attributes, "memo": memo]
    }
    worker.workflow("wf.query") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.setQueryValue("progress", ["pct": 50])
        try await ctx.setQueryValue("progress", ["pct": 100])
        return "done"
    }
    worker.workflow("wf.update") { (_: JSONValue, ctx) -> JSONValue in
        let update = try await ctx.waitForUpdate("approve")
        let amount = update.input["amount"]?.int64Value ?? 0
        if amount > 100 {
            try await ctx.reject(update, message: "amount \(amount) is over 100")
            return ["approved": false]
        }
        try await ctx.respond(to: update, with: ["approved": JSONValue(amount)])
        return ["approved": true]
    }
    worker.workflow("wf.patched") { (_: JSONValue, ctx) -> JSONValue in
        let p = try await ctx.patched("add-discount")
        if p { _ = try await ctx.activity("echo", ["step": "discount"] as JSONValue, as: JSONValue.self) }
        let charge: JSONValue = try await ctx.activity("echo", ["step": "charge"] as JSONValue)
        let again = try await ctx.patched("add-discount")
        return ["patched": .bool(p), "again": .bool(again), "charge": charge]
    }
    worker.workflow("wf.deprecatedPatch") { (_: JSONValue, ctx) -> JSONValue in
        try await ctx.deprecatePatch("add-discount")
        let charge: JSONValue = try await ctx.activity("echo", ["step": "charge"] as JSONValue)
        return ["charge": charge]
    }
    worker.workflow("wf.priority") { (input: JSONValue, ctx) -> JSONValue in
        let first: JSONValue = try await ctx.activity("echo", input, priority: 7, fairnessKey: "tenant-a")
        let second: JSONValue = try await ctx.activity("echo", input)
        return ["first": first, "second": second]
    }
    worker.workflow("wf.child") { (input: JSONValue, ctx) -> JSONValue in
        let c: JSONValue = try await ctx.child("wf.sequence", ["n": input["n"] ?? 0] as JSONValue)
        return ["child": c]
    }
    worker.workflow("wf.cancellable") { (_: JSONValue, ctx) -> JSONValue in
        do {
            return try await ctx.activity("echo", ["step": "work"] as JSONValue, as: JSONValue.self)
        } catch let f as ActivityFailure where f.isCancellation {
            _ = try await ctx.activity("echo", ["step": "compensate"] as JSONValue, as: JSONValue.self)
            throw f
        }
    }
    worker.workflow("wf.loop") { (input: JSONValue, ctx) -> JSONValue in
        let i = input["i"]?.int64Value ?? 0
        if i < 3 {
            _ = try await ctx.activity("echo", ["i": JSONValue(i)] as JSONValue, as: JSONValue.self)
            try ctx.continueAsNew(["i": JSONValue(i + 1)] as JSONValue)
        }
        return ["done": JSONValue(i)]
    }
} else {
    worker.activity("swift.upper", input: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]],
        output: ["type": "object", "required": ["text", "by"]]) { (input: JSONValue, _) -> JSONValue in
        ["text": .string((input["text"]?.stringValue ?? "").uppercased()), "by": "swift"]
    }
    worker.workflow("swift.greet") { (input: JSONValue, ctx) -> JSONValue in
        let upper: JSONValue = try await ctx.activity("swift.upper", ["text": input["name"] ?? "world"] as JSONValue)
        return ["greeting": .string("Hello, \(upper["text"]?.stringValue ?? "")"), "by": "swift"]
    }
}

// SIGTERM: drain (answer running work), then exit 0.
signal(SIGTERM, SIG_IGN)
let term = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .main)
term.setEventHandler { worker.drain() }
term.resume()

do {
    try await worker.run()
} catch {
    // Refused (e.g. -32004 unauthorized): say why and exit 1, as the other client libraries do.
    FileHandle.standardError.write(Data("keel-swift-worker: \(error)\n".utf8))
    exit(1)
}
