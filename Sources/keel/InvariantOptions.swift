import ArgumentParser
import KeelEngine
import KeelServer

/// `keel serve` flags for the open-execution invariant check (docs/execution-model.md,
/// "No execution waits for nothing").
struct InvariantOptions: ParsableArguments {
    @Option(help: "Seconds between checks that every open workflow can wake up (also checked at start; 0: only then).")
    var invariantCheckInterval: Double = 30

    func validate() throws {
        guard invariantCheckInterval >= 0, invariantCheckInterval <= 86_400 else {
            throw ValidationError("--invariant-check-interval must be from 0 to 86400 seconds")
        }
    }

    /// Copies the flag into the server's options.
    func apply(to options: inout KeelServer.Options) {
        options.engine.invariantCheckIntervalMs = Int64(invariantCheckInterval * 1000)
    }
}
