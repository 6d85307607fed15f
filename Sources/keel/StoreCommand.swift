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
        subcommands: [Migrate.self, Nodes.self])

    /// The `--store URL` every subcommand takes.
    struct Location: ParsableArguments {
        @Option(help: "sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?host=SOCKETDIR&sslmode=…]")
        var store: String

        /// Opens the store (migrating it); a bad URL or an unusable store exits 1 with one line.
        func open() async throws -> any Store {
            do {
                switch try StoreURL(parsing: store) {
                case .sqlite(let path): return SQLiteStore(storage: try SQLiteStorage(path: path))
                case .postgres(let location): return try await PostgresStore(location, maximumConnections: 2)
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
#endif
