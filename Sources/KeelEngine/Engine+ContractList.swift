public import KeelCore
import KeelStorage

/// The registered contracts as the web UI's Contracts page shows them (docs/ui.md): each owned
/// (pinned) or served contract with its schemas, hash and version, the connected workers serving
/// it and its recent violations.
extension Engine {
    /// Counts a refused payload in `/metrics` and keeps it among the contract's recent violations.
    func contractViolated(
        _ kind: ContractMetrics.Kind, _ name: String, _ direction: ActivityContract.Side, errors: [JSONValue]
    ) {
        ContractMetrics.violated(kind, name, direction)
        contractViolations.record(
            ContractViolation(direction: direction.rawValue, at: clock.now(), message: Self.firstMessage(errors)),
            key: Self.pinKey(kind.rawValue, name))
    }

    /// A contract's recent violations, newest first (at most ``ContractViolations/perName``).
    public func recentContractViolations(kind: String, name: String) -> [ContractViolation] {
        contractViolations.recent(Self.pinKey(kind, name))
    }

    /// Every contract this orchestrator knows, sorted by kind and name:
    /// `{"contracts": [{kind, name, hash, version?, owner?, ownerWorker?, pinnedAtMs?, description?,
    /// input, output, servedHash?, workers: [{workerId, name}], violations: [{direction, atMs, message}]}]}`.
    /// A pinned contract comes from the store's pin; one served but not pinned (a pin being
    /// written) from the registry. `servedHash` is set when the connected workers serve another
    /// hash than the pin's.
    public func contractList() -> JSONValue {
        var keys = Set(contractPins.keys)
        for name in registry.contracts.keys { keys.insert(Self.pinKey("activity", name)) }
        for name in registry.workflowContracts.keys { keys.insert(Self.pinKey("workflow", name)) }
        let sortedWorkers = workers()
        let list: [JSONValue] = keys.sorted().compactMap { key in
            let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            let (kind, name) = (parts[0], parts[1])
            let served = kind == "activity" ? registry.contracts[name] : registry.workflowContracts[name]
            let pin = contractPins[key]
            var o: [String: JSONValue] = ["kind": .string(kind), "name": .string(name)]
            if let pin {
                o["hash"] = .string(pin.hash)
                o["version"] = JSONValue(pin.version)
                o["owner"] = .string(pin.owner)
                o["ownerWorker"] = .string(pin.ownerWorker)
                o["pinnedAtMs"] = JSONValue(pin.pinnedAt)
                o["input"] = pin.input
                o["output"] = pin.output
            } else if let served {
                o["hash"] = .string(served.hash)
                o["input"] = served.input
                o["output"] = served.output
            }
            if let served, let pin, served.hash != pin.hash { o["servedHash"] = .string(served.hash) }
            if let description = served?.description { o["description"] = .string(description) }
            o["workers"] = .array(sortedWorkers.filter { (kind == "activity" ? $0.activities : $0.workflows).contains(name) }.map {
                ["workerId": .string($0.workerId), "name": .string($0.name)]
            })
            o["violations"] = .array(contractViolations.recent(key).map(\.json))
            return .object(o)
        }
        return ["contracts": .array(list)]
    }
}
