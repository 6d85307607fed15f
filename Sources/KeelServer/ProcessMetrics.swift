import Foundation
import Glibc
import Prometheus
import Synchronization

/// The standard Prometheus process metrics (the names every client library exports, so existing
/// dashboards and alerts work): resident memory, open and maximum descriptors, CPU time, start
/// time. Read from `/proc/self` at scrape time; absent where there is no `/proc` (macOS).
/// Registered on the registry directly, with help text, not through swift-metrics.
final class ProcessMetrics: Sendable {
    private let residentMemory: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let startTime: Gauge
    private let cpuSeconds: Prometheus.Counter
    /// CPU seconds already added to the counter (it only goes up by the difference).
    private let cpuReported = Mutex<Double>(0)

    init(registry: PrometheusCollectorRegistry) {
        residentMemory = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        openFDs = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
        maxFDs = registry.makeGauge(name: "process_max_fds", help: "Maximum number of open file descriptors.")
        startTime = registry.makeGauge(
            name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        cpuSeconds = registry.makeCounter(
            name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
    }

    /// Sets every value from `/proc/self` now.
    func update() {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return }
        // Fields after "pid (comm)": state is field 3, so field n is at index n - 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ n: Int) -> Double? { fields.count > n - 3 ? Double(fields[n - 3]) : nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let utime = field(14), let stime = field(15), ticks > 0 {
            let total = (utime + stime) / ticks
            let delta = cpuReported.withLock { reported -> Double in
                defer { reported = max(reported, total) }
                return total - reported
            }
            if delta > 0 { cpuSeconds.increment(by: delta) }
        }
        if let pages = field(24) { residentMemory.set(pages * Double(sysconf(Int32(_SC_PAGESIZE)))) }
        if let started = field(22), ticks > 0, let boot = Self.bootTime() { startTime.set(boot + started / ticks) }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFDs.set(Double(entries.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(Double(limit.rlim_cur)) }
    }

    /// Seconds since the epoch at boot (`btime` in /proc/stat).
    private static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count))
        }
        return nil
    }
}
