import Glibc

/// The process's open-file limit (RLIMIT_NOFILE), raised at start so the connection cap, not the
/// kernel, decides when connections are refused (issue 10, item 4: ~1,260 idle connections once
/// exhausted a 1,024 soft limit and the process died in libdispatch instead of refusing).
enum FileDescriptorLimit {
    /// Raises the soft limit to the hard one.
    /// - Returns: the soft limit now in force, or nil when it cannot be read.
    static func raiseToHard() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// How many connections fit under `softLimit` descriptors, keeping a reserve for the store,
    /// the event loops, spawned workers' pipes and the accept-then-refuse path: half the limit,
    /// at most 256 descriptors.
    static func connectionBudget(softLimit: Int) -> Int {
        let reserve = min(256, softLimit / 2)
        return max(1, softLimit - reserve)
    }
}
