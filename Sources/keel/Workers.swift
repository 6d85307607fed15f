import ArgumentParser
import KeelClient
import KeelCore
import struct KeelProtocol.WorkerListParams

/// `keel workers`: who is connected, on which node, what they serve, and the backlog per name.
struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List connected workers, what they serve and the work queued per name.",
        discussion: """
            The first table has one row per worker (NODE is the orchestrator it is connected to: for now this \
            host). The second has one row per name served or queued: BACKLOG counts activity calls scheduled \
            (queued or waiting out a retry) and workflows pending; a name no worker serves shows "-".
            """)
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        // The answer stays JSON: `"pid": null`, other nodes' listings (docs/architecture.md, "Typed entry points").
        let params = WorkerListParams()
        let answer = try await runClient(connection) { try await $0.call(WorkerListParams.method, params.json) }
        let workers = answer["workers"]?.arrayValue ?? []
        if connection.json {
            // The array as before (scripts read `.[0].language`); `worker/list` over the wire has the backlog too.
            print(JSONWriter.string(.array(workers), sortedKeys: true))
            return
        }
        for line in Self.workerTable(workers) { print(line) }
        print("")
        for line in Self.backlogTable(workers, backlog: answer["backlog"] ?? [:]) { print(line) }
    }

    static func names(_ w: JSONValue, _ key: String) -> [String] { (w[key]?.arrayValue ?? []).compactMap(\.stringValue) }

    /// A worker's build with the older builds it can continue: `v2 (+v1)`; `-` when unversioned.
    static func build(_ w: JSONValue) -> String {
        guard let build = w["buildId"]?.stringValue else { return "-" }
        let compatible = names(w, "compatibleBuildIds")
        return compatible.isEmpty ? build : "\(build) (+\(compatible.joined(separator: ",")))"
    }

    static func workerTable(_ workers: [JSONValue]) -> [String] {
        let rows = workers.map { w -> [String] in
            let int = { (k: String) in w[k]?.int64Value.map(String.init) ?? "-" }
            return [
                w["workerId"]?.stringValue ?? "", w["name"]?.stringValue ?? "", w["language"]?.stringValue ?? "-",
                w["transport"]?.stringValue ?? "-", w["node"]?.stringValue ?? "-", int("pid"), build(w),
                "\(int("inFlight"))/\(int("maxConcurrent"))", "\(int("workflowsInFlight"))/\(int("maxConcurrentWorkflows"))",
                names(w, "activities").joined(separator: ","), names(w, "workflows").joined(separator: ","),
            ]
        }
        let header = ["WORKER", "NAME", "LANGUAGE", "TRANSPORT", "NODE", "PID", "BUILD", "IN-FLIGHT", "WF-IN-FLIGHT", "ACTIVITIES", "WORKFLOWS"]
        return alignedColumns(header, rows)
    }

    static func backlogTable(_ workers: [JSONValue], backlog: JSONValue) -> [String] {
        var rows: [[String]] = []
        for (kind, key, plural) in [("activity", "activities", "activities"), ("workflow", "workflows", "workflows")] {
            var servedBy: [String: [String]] = [:]
            for w in workers { for n in names(w, key) { servedBy[n, default: []].append(w["workerId"]?.stringValue ?? "") } }
            let queued = backlog[plural]?.objectValue ?? [:]
            for name in Set(servedBy.keys).union(queued.keys).sorted() {
                let by = servedBy[name].map { $0.joined(separator: ",") } ?? "-"
                rows.append([name, kind, "\(queued[name]?.int64Value ?? 0)", by])
            }
        }
        return alignedColumns(["NAME", "KIND", "BACKLOG", "WORKERS"], rows)
    }
}
