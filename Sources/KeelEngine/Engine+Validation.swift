import KeelCore

/// Contract validation and schema compilation, off the engine actor's executor.
///
/// A validation can take long (a 16 MiB payload, a large schema); run on the actor it would hold
/// up every other request. These functions are `@concurrent`, off the actor; a large payload's
/// validation (``LongWork``) and a registration's compilation go further, to
/// ``Options/longWork``, a thread pool: the global executor may be a single event loop that every
/// connection shares (`keel serve`'s default). So only the request that waits for them is
/// delayed. The caller reads the contract on the actor first and validates against that snapshot.
extension Engine {
    /// The errors of `value` against `contract`'s `side` schema (empty when valid), computed off
    /// the actor.
    @concurrent
    nonisolated func contractErrors(of value: JSONValue, against contract: ActivityContract, _ side: ActivityContract.Side)
        async -> [JSONValue]
    {
        let (schema, key) = contract.schema(side)
        guard let executor = options.longWork, LongWork.isLong(value) else {
            return checker.errors(of: value, against: schema, key: key)
        }
        return await withTaskExecutorPreference(executor) { checker.errors(of: value, against: schema, key: key) }
    }

    /// Compiles the contract schemas of a `worker/register` request off the actor, so that the
    /// registration on the actor finds them compiled. Errors are not reported here: the
    /// registration compiles a failing schema again and reports it with its field.
    @concurrent
    nonisolated func precompileContracts(_ params: JSONValue) async {
        guard let executor = options.longWork else { return compileContracts(params) }
        await withTaskExecutorPreference(executor) { compileContracts(params) }
    }

    private nonisolated func compileContracts(_ params: JSONValue) {
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
