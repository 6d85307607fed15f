/// Several endpoints tried in order (docs/clients.md "Several endpoints").
///
/// ``current`` is where to connect next. After a failed attempt or a dropped connection,
/// ``failed()`` moves on to the next endpoint (wrapping around) and says whether every endpoint has
/// now failed once since the last success or pause: only then does the caller wait its
/// ``ReconnectBackoff``. With one endpoint every failure waits, as before; with several, a dead
/// node is left at once for the next one.
struct EndpointRing: Sendable {
    let endpoints: [Endpoint]
    private var index = 0
    private var failures = 0

    /// - Parameter endpoints: at least one; an empty list is treated as `./keel.sock`.
    init(_ endpoints: [Endpoint]) {
        self.endpoints = endpoints.isEmpty ? [.unixSocket(path: "keel.sock")] : endpoints
    }

    var current: Endpoint { endpoints[index] }

    /// The current endpoint initialized: a later failure starts a new round from it.
    mutating func succeeded() { failures = 0 }

    /// Moves to the next endpoint; true when a whole round failed (then wait the backoff).
    mutating func failed() -> Bool {
        index = (index + 1) % endpoints.count
        failures += 1
        guard failures >= endpoints.count else { return false }
        failures = 0
        return true
    }
}
