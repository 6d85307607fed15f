import KeelCore

/// Contract validation and schema compilation.
///
/// A validation can take long (a 16 MiB payload, a large schema); run on the actor it would hold
/// up every other request, so a large payload is checked by a `@concurrent` function on the global
/// concurrent executor and only the request that waits for it is delayed. A small one (at most
/// ``inlineCheckBudget`` values and bytes of text / 64) is checked where the caller runs: that
/// takes microseconds, less than the two executor hops off the actor and back, which every step of
/// every workflow would pay (eight checks a W1 workflow). The caller reads the contract on the
/// actor first and validates against that snapshot.
extension Engine {
    /// How large a payload is still checked on the caller's executor (see above).
    static let inlineCheckBudget = 512

    /// The errors of `value` against `contract`'s `side` schema (empty when valid).
    func contractErrors(of value: JSONValue, against contract: ActivityContract, _ side: ActivityContract.Side) async
        -> [JSONValue]
    {
        let (schema, key) = contract.schema(side)
        var budget = Self.inlineCheckBudget
        if value.fits(within: &budget) { return checker.errors(of: value, against: schema, key: key) }
        return await contractErrorsOffActor(of: value, against: schema, key: key)
    }

    @concurrent
    private nonisolated func contractErrorsOffActor(of value: JSONValue, against schema: JSONValue, key: String) async
        -> [JSONValue]
    {
        checker.errors(of: value, against: schema, key: key)
    }

    /// Compiles the contract schemas of a `worker/register` request off the actor, so that the
    /// registration on the actor finds them compiled. Errors are not reported here: the
    /// registration compiles a failing schema again and reports it with its field.
    @concurrent
    nonisolated func precompileContracts(_ params: JSONValue) async {
        for list in ["activities", "workflows"] {
            guard case .array(let contracts)? = params[list] else { continue }
            for contract in contracts {
                for which in ["input", "output"] {
                    guard let schema = contract[which] else { continue }
                    do { _ = try checker.prepare(schema) } catch { continue }
                }
            }
        }
    }
}
