import CMalloc
import KeelProtocol

/// Gives the heap memory a burst freed back to the system (issue 15).
///
/// glibc keeps what a burst freed inside its arenas: 2,000 workflows started at once allocate
/// ~100 MiB of async frames, requests and JSON that are freed when they suspend or end, and RSS
/// stayed at the burst's peak while the live heap was ~20 MiB. Every ``interval`` this asks malloc
/// how much free memory it holds (`mallinfo2().fordblks`, every arena) and, above ``threshold``,
/// calls `malloc_trim(0)`, which returns the free pages of every arena, not only the top of the
/// main heap. Capping the arenas (`M_ARENA_MAX`) did not help (docs/performance.md): the memory
/// is free, just not returned.
enum HeapTrim {
    /// How often the free heap is looked at: one `mallinfo2` call, microseconds on an idle heap,
    /// so an idle orchestrator stays idle; RSS falls back at most this long after a burst.
    static let interval: Duration = .seconds(5)
    /// Free heap worth a `malloc_trim`: less is reused by the next requests anyway.
    static let threshold = 8 << 20

    /// Every ``interval`` until `stop` fires: `compact` (the engine shrinks its sparse tables),
    /// then a trim if worth it.
    static func run(until stop: OneShotSignal, compact: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await stop.wait() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    await compact()
                    trimIfWorthIt()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Trims when malloc holds more than ``threshold`` free bytes. Returns whether memory went back.
    @discardableResult
    static func trimIfWorthIt() -> Bool {
        #if canImport(Glibc)
        guard mallinfo2().fordblks > threshold else { return false }
        return malloc_trim(0) == 1
        #else
        return false
        #endif
    }
}
