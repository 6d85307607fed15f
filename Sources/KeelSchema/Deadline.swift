/// A point in time after which a bounded search gives up (the contract diff runs on schemas a
/// worker sent; a schema that validates slowly must not make a registration take long).
struct Deadline {
    let end: ContinuousClock.Instant

    /// `seconds` from now.
    init(seconds: Double) {
        end = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    }

    /// A deadline that never passes.
    static var never: Deadline { Deadline(seconds: 1e9) }

    var passed: Bool { ContinuousClock.now >= end }
}
