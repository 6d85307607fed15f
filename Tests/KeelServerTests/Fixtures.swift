import Foundation
import KeelClient
import KeelCore
import KeelTesting
import Synchronization

/// A counter shared between a test and the activities it registers.
final class Counter: Sendable {
    private let value = Locked<[String: Int]>([:])
    @discardableResult
    func bump(_ key: String) -> Int { value.withLock { $0[key, default: 0] += 1; return $0[key]! } }
    func get(_ key: String) -> Int { value.withLock { $0[key, default: 0] } }
}

struct Greeting: Codable, Sendable, Equatable { var greeting: String }
struct Person: Codable, Sendable { var name: String }

let personSchema: JSONValue = [
    "type": "object", "properties": ["name": ["type": "string", "minLength": 1]], "required": ["name"],
]
let greetingSchema: JSONValue = ["type": "object", "properties": ["greeting": ["type": "string"]], "required": ["greeting"]]

/// A Swift worker with the activities the live tests use.
func makeWorker(_ endpoint: Endpoint, counter: Counter, name: String = "test-worker", maxConcurrent: Int = 16) -> Worker {
    let w = Worker(name: name, endpoint: endpoint, maxConcurrent: maxConcurrent)
    w.activity("greet.hello", input: personSchema, output: greetingSchema) { (p: Person, _) in
        counter.bump("greet")
        return Greeting(greeting: "Hello, \(p.name)")
    }
    w.activity("flaky.twice") { (input: JSONValue, ctx) -> JSONValue in
        counter.bump("flaky")
        if ctx.attempt < 3 { throw ActivityFailure("not yet", type: "Transient", retryable: true) }
        return ["attempt": JSONValue(ctx.attempt)]
    }
    w.activity("fail.hard") { (_: JSONValue, _) -> JSONValue in
        counter.bump("hard")
        throw ActivityFailure("card declined", type: "CardDeclined", retryable: false, details: ["code": "51"])
    }
    w.activity("bad.output", output: greetingSchema) { (_: JSONValue, _) -> JSONValue in ["greeting": 5] }
    w.activity("slow.wait") { (_: JSONValue, ctx) -> JSONValue in
        counter.bump("slow")
        while !ctx.isCancelled {
            if try await ctx.heartbeat(["tick": JSONValue(counter.bump("ticks"))]) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        counter.bump("slow-cancelled")
        return ["stopped": true]
    }
    w.activity("echo") { (input: JSONValue, _) -> JSONValue in input }
    return w
}

/// Calls an activity through a client connection.
func call(_ endpoint: Endpoint, _ name: String, _ input: JSONValue, extra: [String: JSONValue] = [:]) async throws -> JSONValue {
    try await KeelClient.withClient(endpoint) { client in
        var p: [String: JSONValue] = ["name": .string(name), "input": input, "waitTimeoutMs": 60_000]
        for (k, v) in extra { p[k] = v }
        return try await client.call("activity/call", .object(p))
    }
}

/// Waits until `n` workers are registered.
func waitForWorkers(_ endpoint: Endpoint, _ n: Int) async throws {
    let ok = try await eventually {
        try await KeelClient.withClient(endpoint) { try await $0.workers().count } >= n
    }
    if !ok { throw KeelError(.internalError, "workers did not register") }
}
