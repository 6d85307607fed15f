import Foundation
import KeelBench
import KeelCore
import Testing

/// A temp folder per test, removed at the end (STYLE.md §9: real files in new temp dirs).
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appending(path: "keel-bench-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir)
}

/// A column as a SQLite `keel bench` session makes one, with given W2 p50 and W3 samples.
func column(_ title: String, w1: [Double] = [1000], w2: [Double], w3: [Double]) -> BenchColumn {
    var c = BenchColumn(title: title)
    c.add("W1 200 wf: workflows/s", w1)
    c.add("W2 latency p50 (ms)", w2)
    c.add("W3 ms per sequential activity", w3)
    return c
}

@Suite("keel bench floors")
struct BenchFloorTests {
    @Test func aOneActivityWorkflowNeedsFourCommitsAndThreeRoundTrips() {
        #expect(FloorCount.oneActivityWorkflow == FloorCount(commits: 4, roundTrips: 3))
        #expect(FloorCount.sequentialActivity == FloorCount(commits: 2, roundTrips: 2))
        #expect(FloorCount.oneActivityWorkflow.formula == "4 commits + 3 round trips")
        #expect(FloorCount(commits: 1, roundTrips: 1).formula == "1 commit + 1 round trip")
    }

    @Test func theFloorIsCommitsTimesCommitPlusRoundTripsTimesRoundTrip() {
        #expect(FloorCount.oneActivityWorkflow.milliseconds(commit: 0.25, roundTrip: 0.1) == 4 * 0.25 + 3 * 0.1)
        #expect(FloorCount.sequentialActivity.milliseconds(commit: 0.5, roundTrip: 0.25) == 1.5)
    }

    @Test func floorRowsGiveEachLatencyAsAMultipleOfItsFloorRepetitionByRepetition() throws {
        var c = column("python/full", w2: [11, 14], w3: [3, 4])
        var floors = FloorSamples(commitKind: "WAL commit")
        floors.add(commits: [1, 1, 1, 9], roundTrips: [0.5, 0.5, 0.5])
        floors.add(commits: [2, 2, 2], roundTrips: [1, 1, 1, 1])
        c.addFloors(floors)
        #expect(c.figure("floor: WAL commit p50 (ms)")?.samples == [1, 2])
        #expect(c.figure("floor: WAL commit p99 (ms)")?.samples == [9, 2])
        #expect(c.figure("floor: worker round trip p50 (ms)")?.samples == [0.5, 1])
        // W2: 4 × 1 + 3 × 0.5 = 5.5, then 4 × 2 + 3 × 1 = 11.
        #expect(c.figure("W2 floor: 4 commits + 3 round trips (ms)")?.samples == [5.5, 11])
        #expect(c.figure("W2 latency p50 (ms) ÷ floor (×)")?.samples == [2, 14.0 / 11])
        // W3: 2 × 1 + 2 × 0.5 = 3, then 2 × 2 + 2 × 1 = 6.
        #expect(c.figure("W3 floor: 2 commits + 2 round trips (ms)")?.samples == [3, 6])
        #expect(c.figure("W3 ms per sequential activity ÷ floor (×)")?.samples == [1, 4.0 / 6])
        #expect(c.floorCounts.map(\.0) == ["W2", "W3"])
    }

    @Test func aLatencyNotMeasuredGetsNoMultiple() {
        var c = BenchColumn(title: "postgres/1 node")
        c.add("W2 latency p50 (ms)", [8])
        var floors = FloorSamples(commitKind: "PostgreSQL commit")
        floors.add(commits: [1], roundTrips: [0.5])
        c.addFloors(floors)
        #expect(c.figure("W2 latency p50 (ms) ÷ floor (×)")?.samples == [8 / 5.5])
        #expect(c.figure("W3 ms per sequential activity ÷ floor (×)") == nil)
        #expect(c.floorCounts.map(\.0) == ["W2"])
    }

    @Test func percentilesAreNearestRank() {
        let values = (1...100).map(Double.init)
        #expect(percentile(values, 0.5) == 50)
        #expect(percentile(values, 0.99) == 99)
        #expect(percentile([3], 0.99) == 3)
        #expect(percentile([], 0.5).isNaN)
        #expect(Figure(samples: [3, 1, 2, 10]).median == 2.5)
    }
}

@Suite("keel bench report and --compare")
struct BenchCompareTests {
    @Test func theTableShowsFloorRowsTheirCountsAndADashWhereAColumnLacksARow() throws {
        var a = column("python/full", w2: [2.2], w3: [1.1])
        var floors = FloorSamples(commitKind: "WAL commit")
        floors.add(commits: [0.2], roundTrips: [0.1])
        a.addFloors(floors)
        let b = column("go/full", w2: [2.0], w3: [1.0])
        let table = BenchReport.table([a, b], repetitions: 1)
        let row = "W2 floor: 4 commits + 3 round trips (ms)"
        let line = try #require(table.split(separator: "\n").first { $0.hasPrefix(row) })
        // 4 × 0.2 + 3 × 0.1 in python/full; go/full measured no floors.
        #expect(line.dropFirst(row.count).split(separator: " ") == ["1.10", "-"])
        let multiple = try #require(table.split(separator: "\n").first { $0.hasPrefix("W2 latency p50 (ms) ÷ floor (×)") })
        #expect(multiple.dropFirst("W2 latency p50 (ms) ÷ floor (×)".count).split(separator: " ") == ["2.00", "-"])
        #expect(table.contains("a floor is commits × commit p50 + round trips × round-trip p50"))
    }

    @Test func aSavedReportIsReadBackFromItsFile() throws {
        try withTemporaryDirectory { dir in
            var c = column("python/full", w1: [900, 1000, 1100], w2: [2, 3, 4], w3: [1, 1, 1])
            var floors = FloorSamples(commitKind: "WAL commit")
            for _ in 0..<3 { floors.add(commits: [0.25], roundTrips: [0.1]) }
            c.addFloors(floors)
            let file = dir.appending(path: "old.json")
            try Data(JSONWriter.bytes(BenchReport.json([c]), sortedKeys: true)).write(to: file)
            let baseline = try BenchBaseline(bytes: Array(try Data(contentsOf: file)), source: file.path)
            #expect(baseline.columns.map(\.title) == ["python/full"])
            #expect(baseline.medians("python/full")?["W1 200 wf: workflows/s"] == 1000)
            #expect(baseline.medians("python/full")?["W2 latency p50 (ms)"] == 3)
            #expect(baseline.medians("python/full")?["W2 floor: 4 commits + 3 round trips (ms)"] == 1.3)
            let written = try JSONParser.parse(Array(try Data(contentsOf: file)))
            #expect(written.arrayValue?.first?["floorCounts"]?["W2"] == ["commits": 4, "roundTrips": 3])
        }
    }

    @Test func eachSharedRowAndColumnGetsNewOverOldAndSaysWhichWayIsBetter() throws {
        let old = [column("python/full", w1: [1000], w2: [2], w3: [1]), column("python/normal", w2: [1.6], w3: [0.8])]
        let baseline = try BenchBaseline(json: BenchReport.json(old), source: "old.json")
        var newer = column("python/full", w1: [1250], w2: [1.5], w3: [1])
        newer.add("W4 p50 (ms)", [1.9])  // not in the old run: no ratio
        let other = column("go/full", w2: [1], w3: [1])  // not in the old run: no column
        let comparison = try BenchComparison([newer, other], with: baseline, source: "old.json")
        #expect(comparison.columnTitles == ["python/full"])
        #expect(comparison.rows == ["W1 200 wf: workflows/s", "W2 latency p50 (ms)", "W3 ms per sequential activity"])
        #expect(comparison.ratio(row: "W1 200 wf: workflows/s", column: "python/full") == 1.25)
        #expect(comparison.ratio(row: "W2 latency p50 (ms)", column: "python/full") == 0.75)
        #expect(comparison.ratio(row: "W4 p50 (ms)", column: "python/full") == nil)
        let table = comparison.table()
        let lines = table.split(separator: "\n")
        #expect(lines.first?.contains("compared with old.json") == true)
        #expect(lines.contains { $0.hasPrefix("W1 200 wf: workflows/s") && $0.contains("1.25×") && $0.hasSuffix("higher is better") })
        #expect(lines.contains { $0.hasPrefix("W2 latency p50 (ms)") && $0.contains("0.75×") && $0.hasSuffix("lower is better") })
        let json = BenchReport.json([newer], comparison: comparison)
        #expect(json.arrayValue?.first?["figures"]?["W1 200 wf: workflows/s"]?["ratio"] == 1.25)
        #expect(json.arrayValue?.first?["figures"]?["W4 p50 (ms)"]?["ratio"] == nil)
    }

    @Test func anOldFigureOfZeroIsNotMeasuredAndGetsNoRatio() throws {
        var old = BenchColumn(title: "sqlite/1 node")
        old.add("database write transactions per call", [.nan])  // written as 0
        let baseline = try BenchBaseline(json: BenchReport.json([old]), source: "old.json")
        var newer = BenchColumn(title: "sqlite/1 node")
        newer.add("database write transactions per call", [.nan])
        let comparison = try BenchComparison([newer], with: baseline, source: "old.json")
        #expect(comparison.ratio(row: "database write transactions per call", column: "sqlite/1 node") == nil)
        #expect(comparison.table().contains("-"))
    }

    @Test func aClusterReportComparesByItsNodeColumns() throws {
        var old = BenchColumn(title: "postgres/3 nodes")
        old.add("W4 activity/call: calls/s (8 clients)", [3000])
        old.add("database write transactions per W1 workflow", [6])
        let baseline = try BenchBaseline(json: BenchReport.json([old]), source: "cluster.json")
        var newer = BenchColumn(title: "postgres/3 nodes")
        newer.add("W4 activity/call: calls/s (8 clients)", [3300])
        newer.add("database write transactions per W1 workflow", [4.5])
        let comparison = try BenchComparison([newer], with: baseline, source: "cluster.json")
        #expect(abs((comparison.ratio(row: "W4 activity/call: calls/s (8 clients)", column: "postgres/3 nodes") ?? 0) - 1.1) < 1e-9)
        #expect(comparison.ratio(row: "database write transactions per W1 workflow", column: "postgres/3 nodes") == 0.75)
    }

    @Test(arguments: [
        ("W1 200 wf: workflows/s", BenchReport.Better.higher),
        ("W4 activity/call: calls/s (8 clients)", .higher),
        ("W2 latency p99 (ms)", .lower),
        ("W3 ms per sequential activity", .lower),
        ("RSS idle (MiB)", .lower),
        ("CPU per workflow (ms, W1 2000)", .lower),
        ("database write transactions per call", .lower),
        ("W2 latency p50 (ms) ÷ floor (×)", .lower),
        ("floor: WAL commit p50 (ms)", .lower),
        ("W4 thread switches per call", .lower),
    ])
    func eachRowSaysWhichWayIsBetter(row: String, better: BenchReport.Better) {
        #expect(BenchReport.better(row) == better)
    }
}

@Suite("keel bench --compare errors")
struct BenchCompareErrorTests {
    func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as BenchBaseline.Error {
            return error.message
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func aFileThatIsNotJSONIsSaidInOneLine() throws {
        try withTemporaryDirectory { dir in
            let file = dir.appending(path: "broken.json")
            try Data("keel bench — 1 repetition(s)\nW1 …".utf8).write(to: file)
            let m = message { _ = try BenchBaseline(bytes: Array(try Data(contentsOf: file)), source: file.path) }
            #expect(m?.contains("is not JSON") == true)
            #expect(m?.contains("\n") == false)
        }
    }

    @Test(arguments: ["{\"column\":\"python/full\"}", "[]", "[{\"column\":\"python/full\"}]", "[{\"figures\":{}}]"])
    func jsonOfAnotherShapeIsNotABenchReport(text: String) throws {
        try withTemporaryDirectory { dir in
            let file = dir.appending(path: "other.json")
            try Data(text.utf8).write(to: file)
            let m = message { _ = try BenchBaseline(bytes: Array(try Data(contentsOf: file)), source: file.path) }
            #expect(m?.contains("is not a keel bench report") == true)
        }
    }

    @Test func aFigureWithoutANumericMedianIsNamed() {
        let m = message {
            _ = try BenchBaseline(json: [["column": "go/full", "figures": ["W2 latency p50 (ms)": ["median": "fast"]]]], source: "x.json")
        }
        #expect(m == "x.json: row \"W2 latency p50 (ms)\" of column go/full has no numeric median")
    }

    @Test func aRunOfAnotherKindHasNoMatchingColumn() throws {
        let baseline = try BenchBaseline(json: BenchReport.json([column("sqlite/1 node", w2: [3], w3: [1])]), source: "cluster.json")
        let m = message { _ = try BenchComparison([column("python/full", w2: [2], w3: [1])], with: baseline, source: "cluster.json") }
        #expect(m == "cluster.json has no column of this run (it has sqlite/1 node; this run has python/full): compare runs of the same kind")
        #expect(message { try BenchComparison.checkColumns(["python/full", "sqlite/1 node"], against: baseline, source: "c") } == nil)
    }
}

@Suite("keel bench CPU shares")
struct CPUSharesTests {
    /// This test's own process, working for about 200 ms of CPU between start and stop: its row
    /// gets that CPU per unit, and the ceiling is what the cores allow at that CPU.
    @Test func aRunsCPUIsSharedOutPerUnitAndGivesTheCeilingTheCoresAllow() {
        var shares = CPUShares([("busy (ms)", getpid()), ("again (ms)", getpid())])
        shares.start()
        let started = ProcStats.cpuSeconds(getpid())
        var sink = 0.0
        while ProcStats.cpuSeconds(getpid()) - started < 0.2 { for i in 0..<10_000 { sink += Double(i).squareRoot() } }
        shares.stop(units: 100)
        #expect(sink > 0)
        var column = BenchColumn(title: "t")
        shares.add(to: &column)
        let perUnit = column.figure("busy (ms)")?.median ?? 0
        // At least the 200 ms it burned (other threads of the test run may add their own), per 100 units.
        #expect(perUnit >= 2 && perUnit < 20, "\(perUnit) ms per unit")
        let again = column.figure("again (ms)")?.median ?? 0
        #expect(again >= 2)
        let ceiling = shares.ceiling(cores: 2)
        #expect(ceiling.count == 1)
        #expect(abs(ceiling[0] - 2 * 1000 / (perUnit + again)) < 1e-9 * ceiling[0], "both rows' shares summed")
        #expect(BenchReport.better("W4 ceiling at that CPU on 2 cores (calls/s)") == .higher)
    }
}
