/// Memory the engine gives back after a burst (issue 15, docs/performance.md "Memory").
extension Engine {
    /// Shrinks the engine's per-execution tables that a burst left mostly empty. A Swift
    /// dictionary keeps its capacity when entries are removed: after 2,000 workflows ended, the
    /// tables of live tasks and executions held ~4.5 MiB of empty buckets. Cheap when nothing is
    /// sparse (a few comparisons); the server calls it before each heap trim (HeapTrim.swift).
    public func compactTables() {
        Self.compactIfSparse(&workflows)
        Self.compactIfSparse(&tasks)
        Self.compactIfSparse(&waiters)
        Self.compactIfSparse(&workflowWaiters)
    }

    /// Copies `table` into a right-sized one when it fills less than a quarter of a capacity of at
    /// least ``compactionMinimumCapacity``: each copy is paid for by the removals since it grew.
    static func compactIfSparse<Key, Value>(_ table: inout [Key: Value]) {
        guard table.capacity >= compactionMinimumCapacity, table.count * 4 < table.capacity else { return }
        var smaller = [Key: Value](minimumCapacity: table.count)
        for (key, value) in table { smaller[key] = value }
        table = smaller
    }

    /// Below this many buckets a table is left as it is (a few KiB at most).
    static let compactionMinimumCapacity = 256
}
