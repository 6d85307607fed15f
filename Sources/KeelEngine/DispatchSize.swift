import KeelCore

/// A cheap upper-bound guess of a value's encoded size, without encoding it: the engine reserves
/// this much of a worker's outgoing queue when it picks the worker, so several dispatches picked
/// before the first is written cannot all slip under the high-water mark (issue 10, item 5).
enum DispatchSize {
    /// Bytes of the `activity/execute` envelope and fields besides the input.
    static let envelopeBytes = 512

    static func estimate(_ value: JSONValue) -> Int {
        if let s = value.stringValue { return s.utf8.count + 2 + s.utf8.count / 8 }  // escapes, roughly
        if let a = value.arrayValue { return a.reduce(2) { $0 + estimate($1) + 1 } }
        if let o = value.objectValue { return o.reduce(2) { $0 + $1.key.utf8.count + 4 + estimate($1.value) } }
        return 24
    }
}
