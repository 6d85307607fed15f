public import KeelCore

/// One payload a registered contract refused: what the Contracts page lists as a recent violation.
public struct ContractViolation: Sendable, Equatable {
    /// `input` (refused before anything ran) or `output` (the run's result was refused).
    public var direction: String
    public var at: EpochMillis
    /// The first schema error, as the refusal's message gives it ("at /amount: …").
    public var message: String

    public var json: JSONValue {
        ["direction": .string(direction), "atMs": JSONValue(at), "message": .string(message)]
    }
}

/// The last few violations of each contract, newest first, in memory only: a restart forgets
/// them (`keel_contract_violations_total` in `/metrics` keeps the counts). Bounded twice: at most
/// ``perName`` per contract and ``maxNames`` contracts; past that the contract whose latest
/// violation is oldest is forgotten.
struct ContractViolations {
    static let perName = 10
    static let maxNames = 1000

    private var byKey: [String: [ContractViolation]] = [:]

    /// Records one violation of the contract under `key` (``Engine/pinKey(_:_:)``).
    mutating func record(_ violation: ContractViolation, key: String) {
        if byKey[key] == nil, byKey.count >= Self.maxNames,
            let stalest = byKey.min(by: { ($0.value.first?.at ?? 0) < ($1.value.first?.at ?? 0) })?.key
        {
            byKey[stalest] = nil
        }
        var list = byKey[key] ?? []
        list.insert(violation, at: 0)
        if list.count > Self.perName { list.removeLast(list.count - Self.perName) }
        byKey[key] = list
    }

    /// The contract's recent violations, newest first.
    func recent(_ key: String) -> [ContractViolation] { byKey[key] ?? [] }

    /// How many contracts have violations kept.
    var count: Int { byKey.count }
}
