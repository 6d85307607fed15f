import ArgumentParser
import Foundation
import KeelBench
import KeelClient
import KeelCore
import KeelSchemaCLI

/// `keel bench`: measures Keel end to end on this machine — its own orchestrator process on a temp
/// SQLite file, real workers over the Unix socket — and prints one table.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark workflows, latency, per-step cost and one-shot calls against real workers.",
        discussion: "Figures are medians over repetitions with min–max; see docs/performance.md.")

    @Flag(help: "A smoke run: small counts, one repetition (CI).") var quick = false
    @Option(help: "Repetitions per workload.") var repetitions = 3
    @Option(help: "Durability columns: full, normal or both.") var sync = "both"
    @Option(help: "Worker languages: python, go (comma-separated).") var languages = "python,go"
    @Option(help: "Repository root (holds examples/bench); default: found from the binary.") var root: String?
    @Option(help: "Also write the results as JSON to this file.") var json: String?
    @Option(help: "Compare with a run saved earlier by --json FILE: each row's new ÷ old median.") var compare: String?
    @Option(help: "Output on stdout: text (a table) or json.") var format: FormatOptions.Kind = .text
    @Flag(help: "Only compare the JSON codec with Foundation's JSONSerialization.") var codec = false
    @Option(help: "Measure nodes on this postgres:// store (W4 through each count of --nodes, beside one SQLite node).")
    var store: String?
    @Option(help: "With --store: how many keel serve nodes to run at once, e.g. 1,3.") var nodes = "1,3"
    @Option(help: "With --store: each node's --commit-slots, one column per value, e.g. 0,4 (0: no shared commits).")
    var commitSlots = "4"

    func validate() throws {
        guard ["full", "normal", "both"].contains(sync) else { throw ValidationError("--sync takes full, normal or both") }
        guard repetitions >= 1, repetitions <= 20 else { throw ValidationError("--repetitions must be 1 to 20") }
        if store != nil {
            guard let counts = nodeCounts, !counts.isEmpty, counts.allSatisfy({ (1...8).contains($0) }) else {
                throw ValidationError("--nodes takes counts from 1 to 8, e.g. 1,3")
            }
            guard let slots = slotCounts, !slots.isEmpty, slots.allSatisfy({ (0...64).contains($0) }) else {
                throw ValidationError("--commit-slots takes counts from 0 to 64, e.g. 0,4")
            }
        }
    }

    var nodeCounts: [Int]? { Self.counts(nodes) }
    var slotCounts: [Int]? { Self.counts(commitSlots) }

    /// "1,3" as [1, 3]; nil when an item is not a number.
    private static func counts(_ list: String) -> [Int]? {
        let counts = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return counts.contains(nil) ? nil : counts.compactMap { $0 }
    }

    func run() async throws {
        if codec {
            print(CodecBenchmark.run())
            return
        }
        // Read before measuring, so a wrong file is said at once, not after minutes of bench.
        let baseline = try compare.map(Self.loadBaseline)
        let rootPath = try root ?? BenchEnvironment.findRoot()
        if let store {
            try await runNodes(store: store, root: rootPath, baseline: baseline)
            return
        }
        let modes = sync == "both" ? ["full", "normal"] : [sync]
        let langs = languages.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        if let baseline {
            try Self.checkColumns(langs.flatMap { lang in modes.map { BenchSession.title(language: lang, sync: $0) } }, baseline)
        }
        let plan = BenchPlan(quick: quick, repetitions: quick ? 1 : repetitions)
        var columns: [BenchColumn] = []
        for lang in langs {
            for mode in modes {
                FileHandle.standardError.write(Data("bench: \(lang) workers, sync \(mode)…\n".utf8))
                columns.append(try await BenchSession(root: rootPath, language: lang, sync: mode, plan: plan).run())
            }
        }
        try report(columns, repetitions: plan.repetitions, baseline: baseline)
    }

    /// Prints the table (or JSON), with the comparison when `--compare` was given, and writes `--json`.
    func report(_ columns: [BenchColumn], repetitions: Int, baseline: BenchBaseline?) throws {
        var comparison: BenchComparison?
        if let baseline, let compare {
            do {
                comparison = try BenchComparison(columns, with: baseline, source: compare)
            } catch let error as BenchBaseline.Error {
                throw Self.compareFailed(error.message)
            }
        }
        let report = BenchReport.json(columns, comparison: comparison)
        if format == .json {
            print(JSONWriter.string(report, sortedKeys: true))
        } else {
            print(BenchReport.table(columns, repetitions: repetitions))
            if let comparison { print(comparison.table()) }
        }
        if let json {
            try Data(JSONWriter.bytes(report, sortedKeys: true)).write(to: URL(fileURLWithPath: json))
        }
    }

    /// The saved run at `path`, or a one-line error and exit status 1.
    static func loadBaseline(_ path: String) throws -> BenchBaseline {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw compareFailed("cannot read \(path); give a file written by keel bench --json FILE")
        }
        do {
            return try BenchBaseline(bytes: Array(data), source: path)
        } catch let error as BenchBaseline.Error {
            throw compareFailed(error.message)
        }
    }

    static func checkColumns(_ titles: [String], _ baseline: BenchBaseline) throws {
        do {
            try BenchComparison.checkColumns(titles, against: baseline, source: baseline.source)
        } catch let error as BenchBaseline.Error {
            throw compareFailed(error.message)
        }
    }

    static func compareFailed(_ message: String) -> ExitCode {
        printError("keel bench: --compare: \(message)")
        return ExitCode(1)
    }
}

/// Counts per workload.
struct BenchPlan: Sendable {
    var quick: Bool
    var repetitions: Int
    var w1Small: Int { quick ? 20 : 200 }
    var w1Large: Int { quick ? 50 : 2000 }
    var w2Count: Int { quick ? 20 : 200 }
    var w3Steps: Int { quick ? 50 : 500 }
    /// W3 again in a workflow this long: a step whose cost grows with the journal shows as a ratio above 1.
    var w3LongSteps: Int { quick ? 200 : 2000 }
    var w4Clients: Int { 8 }
    var w4CallsPerClient: Int { quick ? 50 : 2500 }
    /// Sequential commits timed per repetition for the commit floor.
    var floorCommits: Int { quick ? 50 : 300 }
    /// Sequential worker round trips timed per repetition for the round-trip floor.
    var floorRoundTrips: Int { quick ? 200 : 2000 }
}

extension Bench {
    /// `--store postgres://…`: W4 through 1 and N nodes on the store, beside a SQLite node.
    func runNodes(store: String, root: String, baseline: BenchBaseline?) async throws {
        #if canImport(KeelPostgres)
        let plan = BenchPlan(quick: quick, repetitions: quick ? 1 : repetitions)
        let bench = ClusterBench(
            root: root, storeURL: store, nodeCounts: nodeCounts ?? [1], commitSlots: slotCounts ?? [4], plan: plan)
        if let baseline { try Self.checkColumns(bench.titles, baseline) }
        try report(try await bench.run(), repetitions: plan.repetitions, baseline: baseline)
        #else
        throw ValidationError("this keel was built without PostgreSQL (KEEL_WITHOUT_POSTGRES=1)")
        #endif
    }
}
