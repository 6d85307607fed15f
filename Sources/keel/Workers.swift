import ArgumentParser
import KeelClient
import KeelCore

/// `keel workers`: who is connected and what they serve.
struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List connected workers.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let workers = try await runClient(connection) { try await $0.workers() }
        if connection.json {
            print(JSONWriter.string(.array(workers), sortedKeys: true))
            return
        }
        print("WORKER  NAME                 LANGUAGE  TRANSPORT  PID      IN-FLIGHT  ACTIVITIES")
        for w in workers {
            let acts = (w["activities"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
            let pid = w["pid"]?.int64Value.map(String.init) ?? "-"
            let inFlight = "\(w["inFlight"]?.int64Value ?? 0)/\(w["maxConcurrent"]?.int64Value ?? 0)"
            print(
                pad(w["workerId"]?.stringValue ?? "", 8) + pad(w["name"]?.stringValue ?? "", 21)
                    + pad(w["language"]?.stringValue ?? "", 10) + pad(w["transport"]?.stringValue ?? "", 11) + pad(pid, 9)
                    + pad(inFlight, 11) + acts)
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
}
