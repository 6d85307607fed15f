#if canImport(KeelPostgres)
import ArgumentParser
import Foundation
import KeelCore
import KeelPostgres
import KeelSchemaCLI
import KeelStorage

/// `keel store …`: prepare and inspect a store from the command line (docs/scaling.md).
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Prepare and inspect a store (SQLite file or PostgreSQL database).",
        subcommands: [Migrate.self, Nodes.self, Bench.self])

    /// The `--store URL` every subcommand takes.
    struct Location: ParsableArguments {
        @Option(help: "sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?host=SOCKETDIR&sslmode=…]")
        var store: String

        /// Opens the store (migrating it); a bad URL or an unusable store exits 1 with one line.
        func open(connections: Int = 2) async throws -> any Store {
            do {
                switch try StoreURL(parsing: store) {
                case .sqlite(let path): return SQLiteStore(storage: try SQLiteStorage(path: path))
                case .postgres(let location): return try await PostgresStore(location, maximumConnections: connections)
                }
            } catch let error as KeelError {
                FileHandle.standardError.write(Data("keel store: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the store's schema to this binary's version (run once before rolling new nodes).")

        @OptionGroup var location: Location
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let store = try await location.open()
            await store.close()
            let redacted = StoreURL.redacted(location.store)
            print(output.isJSON ? JSONWriter.string(["store": .string(redacted), "migrated": true]) : "migrated \(redacted)")
        }
    }

    struct Nodes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the orchestrator nodes the store knows and their leases.")

        @OptionGroup var location: Location
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let store = try await location.open()
            let nodes: [NodeRecord]
            let now: EpochMillis
            do {
                nodes = try await store.nodes()
                now = try await store.now()
            } catch let error as KeelError {
                await store.close()
                FileHandle.standardError.write(Data("keel store: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
            await store.close()
            if output.isJSON {
                print(
                    JSONWriter.string(
                        .array(
                            nodes.map {
                                [
                                    "node": .string($0.nodeId), "alive": .bool($0.alive),
                                    "leaseExpiresInMs": .number(JSONNumber($0.heartbeatAt + $0.leaseMillis - now)),
                                ]
                            })))
            } else {
                print("NODE\tALIVE\tLEASE LEFT (ms)")
                for node in nodes { print("\(node.nodeId)\t\(node.alive)\t\(node.heartbeatAt + node.leaseMillis - now)") }
            }
        }
    }
}

extension StoreCommand {
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the store alone: activity tasks enqueued, claimed and finished through it, by 1 or more nodes.",
            discussion: "Each node is a store instance with its own lease and connections, as a keel serve process would be. Medians of --repetitions; see docs/scaling.md.")

        @OptionGroup var location: Location
        @Option(help: "Node counts to run, comma-separated (PostgreSQL only beyond 1).") var nodes = "1,3"
        @Option(help: "Tasks per throughput run.") var tasks = 2000
        @Option(help: "Tasks per enqueue commit.") var enqueueBatch = 50
        @Option(help: "Tasks per claim.") var claimLimit = 32
        @Option(help: "Sequential enqueue-claim-finish rounds for the latency figure.") var latencySamples = 200
        @Option(help: "Repetitions (medians are printed).") var repetitions = 3

        func validate() throws {
            guard tasks >= 1, tasks <= 1_000_000 else { throw ValidationError("--tasks must be 1 to 1000000") }
            guard (1...20).contains(repetitions) else { throw ValidationError("--repetitions must be 1 to 20") }
            guard (1...1000).contains(enqueueBatch), (1...1000).contains(claimLimit) else {
                throw ValidationError("--enqueue-batch and --claim-limit must be 1 to 1000")
            }
            guard (1...100_000).contains(latencySamples) else { throw ValidationError("--latency-samples must be 1 to 100000") }
            guard try !nodeCounts().isEmpty else { throw ValidationError("--nodes needs at least one count") }
        }

        func nodeCounts() throws -> [Int] {
            try nodes.split(separator: ",").map {
                guard let n = Int($0.trimmingCharacters(in: .whitespaces)), (1...16).contains(n) else {
                    throw ValidationError("--nodes takes counts from 1 to 16, e.g. 1,3")
                }
                return n
            }
        }

        func run() async throws {
            let isSQLite = if case .sqlite = try? StoreURL(parsing: location.store) { true } else { false }
            let bench = StoreBenchmark(
                tasks: tasks, enqueueBatch: enqueueBatch, claimLimit: claimLimit, latencySamples: latencySamples)
            print("store: \(StoreURL.redacted(location.store))")
            print("nodes\ttasks/s (median, min-max)\tcommits/task")
            var run = Int(Date().timeIntervalSince1970) % 100_000 * 100
            for count in try nodeCounts() {
                if isSQLite && count > 1 {
                    print("\(count)\tn/a: one process per SQLite file\t")
                    continue
                }
                var stores: [any Store] = []
                for _ in 0..<count { stores.append(try await location.open(connections: 4)) }
                var figures: [StoreBenchmark.Throughput] = []
                for _ in 0..<repetitions {
                    run += 1
                    figures.append(try await bench.throughput(stores, run: run))
                }
                for store in stores { await store.close() }
                let rates = figures.map(\.tasksPerSecond).sorted()
                let commits = figures.map(\.commitsPerTask).sorted()[figures.count / 2]
                print(
                    "\(count)\t\(Int(rates[rates.count / 2])) (\(Int(rates.first ?? 0))-\(Int(rates.last ?? 0)))\t"
                        + String(format: "%.2f", commits))
            }
            let store = try await location.open()
            var p50s: [Double] = []
            var p99s: [Double] = []
            for _ in 0..<repetitions {
                run += 1
                let (p50, p99) = try await bench.latency(store, run: run)
                p50s.append(p50)
                p99s.append(p99)
            }
            await store.close()
            p50s.sort()
            p99s.sort()
            print(
                String(
                    format: "one task enqueue+claim+finish, sequential: p50 %.2f ms, p99 %.2f ms (medians of %d runs of %d)",
                    p50s[p50s.count / 2], p99s[p99s.count / 2], repetitions, latencySamples))
        }
    }
}
#endif
