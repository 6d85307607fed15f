import Foundation

/// /proc figures of a process (Linux): `keel bench`'s and the tests' that count thread crossings.
public enum ProcStats {
    /// A `kB` field of `/proc/PID/status` (e.g. `VmRSS`), in MiB; NaN when unreadable.
    public static func status(_ pid: Int32, _ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return .nan }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? .nan
            return kb / 1024
        }
        return .nan
    }

    public static func rssMiB(_ pid: Int32) -> Double { status(pid, "VmRSS") }
    public static func peakRSSMiB(_ pid: Int32) -> Double { status(pid, "VmHWM") }

    /// Voluntary context switches of every thread of the process so far: each is a thread that
    /// ran out of work and slept until another handed it some. Their growth per call counts the
    /// thread crossings a call costs, whatever the machine's speed (preemptions, which depend on
    /// the load, are not counted).
    public static func contextSwitches(_ pid: Int32) -> Double {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return .nan }
        var total = 0.0
        for thread in threads {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8) else {
                continue  // the thread ended between the listing and the read
            }
            for line in text.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                total += line.split(separator: "\t").last.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } ?? 0
            }
        }
        return total
    }

    /// User plus system CPU seconds.
    public static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return .nan }
        let fields = text[text.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let utime = Double(fields[11]) ?? 0, stime = Double(fields[12]) ?? 0
        return (utime + stime) / ticks
    }
}

/// The CPU a workload costs each of several processes, per unit of work (a call, a workflow):
/// where a run's CPU went, which says what bounds a throughput on a machine of few cores.
public struct CPUShares {
    /// The processes, each with the row name its figure goes under.
    public let processes: [(row: String, pid: Int32)]
    /// Per process, one sample (ms per unit) per measured run.
    public private(set) var samples: [[Double]]
    private var started: [Double] = []

    public init(_ processes: [(row: String, pid: Int32)]) {
        self.processes = processes
        samples = Array(repeating: [], count: processes.count)
    }

    /// Marks the start of one measured run.
    public mutating func start() { started = processes.map { ProcStats.cpuSeconds($0.pid) } }

    /// Ends the run begun by ``start()``: each process's CPU since then, in ms per unit of `units`.
    public mutating func stop(units: Double) {
        for (i, process) in processes.enumerated() {
            samples[i].append((ProcStats.cpuSeconds(process.pid) - started[i]) * 1000 / units)
        }
    }

    /// Adds one row per process to `column`.
    public func add(to column: inout BenchColumn) {
        for (i, process) in processes.enumerated() { column.add(process.row, samples[i]) }
    }

    /// Per run, the units a second that `cores` cores allow at the CPU all the processes took per
    /// unit: the ceiling of a throughput bound by CPU on this machine.
    public func ceiling(cores: Int) -> [Double] {
        guard let runs = samples.first?.count else { return [] }
        return (0..<runs).map { run in Double(cores) * 1000 / samples.reduce(0) { $0 + $1[run] } }
    }
}
