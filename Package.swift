// swift-tools-version:6.1
import Foundation
import PackageDescription

/// A lean build leaves out the heavy optional parts: the PostgreSQL store (postgres-nio) and the
/// web UI (Hummingbird, KeelWeb). Every build has them but the sanitizer passes, which set
/// KEEL_LEAN=1 (or the older KEEL_WITHOUT_POSTGRES=1) to keep CI inside its time budget
/// (docs/testing.md, "Sanitizers").
let lean =
    ProcessInfo.processInfo.environment["KEEL_LEAN"] != nil
    || ProcessInfo.processInfo.environment["KEEL_WITHOUT_POSTGRES"] != nil
let withPostgres = !lean
let withWeb = !lean

/// One settings array for every target (STYLE.md §1, §6).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "keel",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "keel", targets: ["keel"]),
        .library(name: "KeelClient", targets: ["KeelClient"]),
        .library(name: "KeelSchema", targets: ["KeelSchema"]),
        // For the fuzz targets in Fuzz/ (a separate package that depends on this one by path).
        .library(name: "KeelCore", targets: ["KeelCore"]),
        .library(name: "KeelProtocol", targets: ["KeelProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        // TLS on the TCP listener and in the Swift client (BoringSSL inside; only the targets that need it).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        // The swift-metrics backend behind `keel serve --metrics-listen` (Prometheus text exposition).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The Tracer API the engine emits spans through (docs/traces.md, docs/decisions/0006-traces.md).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.0.0"),
        // Heap: the engine's ready queues order tasks by priority and fairness turn (TaskQueue.swift).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ] + (withPostgres ? [.package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0")] : [])
        + (withWeb
            ? [
                .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
                .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
            ] : []),
    targets: [
        // Value types only: JSON, errors, policies. No I/O.
        .target(name: "KeelCore", swiftSettings: swiftSettings),
        // JSON Schema validator (2020-12 and draft-07). Pure.
        .target(name: "KeelSchema", dependencies: ["KeelCore"], swiftSettings: swiftSettings),
        // `keel schema …` subcommands (validate, validate-batch, lint, diff, check, bench) as a library.
        .target(
            name: "KeelSchemaCLI",
            dependencies: [
                "KeelSchema", "KeelCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // JSON-RPC 2.0 envelopes, method catalog, line framing.
        .target(
            name: "KeelProtocol",
            dependencies: [
                "KeelCore", "KeelSchema", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Generates KeelProtocol's request and result types from Schemas/protocol/ (docs/architecture.md,
        // "Typed entry points"); a library so that a test can run it in-process.
        .target(name: "KeelProtocolGen", dependencies: ["KeelCore"], swiftSettings: swiftSettings),
        .executableTarget(name: "keel-protocol-gen", dependencies: ["KeelProtocolGen"], swiftSettings: swiftSettings),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // glibc's malloc.h (mallinfo2, malloc_trim) for KeelServer's HeapTrim.
        .systemLibrary(name: "CMalloc"),
        // The Swift runtime's global-enqueue hook by address, for keel's EventLoopExecutor.
        .systemLibrary(name: "CConcurrencyHook"),
        // Storage protocol, migrations, SQLite backend with group commit.
        .target(
            name: "KeelStorage",
            dependencies: ["KeelCore", "CSQLite", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        // W3C trace context and an OTLP/JSON-lines file exporter behind the `Tracer` API.
        .target(
            name: "KeelTracing",
            dependencies: ["KeelCore", .product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: swiftSettings
        ),
        // Durable-execution logic: tasks, dispatch, retries, timers.
        .target(
            name: "KeelEngine",
            dependencies: [
                "KeelCore", "KeelSchema", "KeelProtocol", "KeelStorage", "KeelTracing",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Listeners (Unix socket, TCP), stdio worker supervisor, ServiceGroup wiring.
        .target(
            name: "KeelServer",
            dependencies: [
                "KeelEngine", "KeelProtocol", "CMalloc",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Swift client: connection, worker, client calls. Used by the CLI too.
        .target(
            name: "KeelClient",
            dependencies: [
                "KeelCore", "KeelProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Model Context Protocol both ways: an MCP server's tools as activities (the bridge) and
        // Keel's activities as an MCP server. Hand-written on Keel's own JSON-RPC (docs/decisions/0005-mcp.md).
        .target(
            name: "KeelMCP",
            dependencies: [
                "KeelCore", "KeelSchema", "KeelProtocol", "KeelClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // `keel bench`'s report: figures, floors, the table and JSON, and --compare. Pure, so tested alone.
        .target(name: "KeelBench", dependencies: ["KeelCore"], swiftSettings: swiftSettings),
        // Test harness: temp dirs, a running orchestrator, spawned workers.
        .target(
            name: "KeelTesting",
            dependencies: ["KeelServer", "KeelEngine", "KeelClient", "KeelStorage", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "keel",
            dependencies: (withPostgres ? ["KeelPostgres"] : []) + (withWeb ? ["KeelWeb"] : []) + [
                "KeelServer", "KeelClient", "KeelSchema", "KeelSchemaCLI", "KeelProtocol", "KeelMCP", "KeelTracing",
                "KeelBench", "KeelStorage", "CConcurrencyHook",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "KeelCoreTests", dependencies: ["KeelCore"], swiftSettings: swiftSettings),
        .testTarget(name: "KeelBenchTests", dependencies: ["KeelBench", "KeelCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KeelSchemaTests", dependencies: ["KeelSchema"],
            exclude: ["generate_metaschemas.py", "ContractDiffCorpus.json"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KeelSchemaCLITests", dependencies: ["KeelSchemaCLI"], exclude: ["bench_python_jsonschema.py"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KeelProtocolTests",
            dependencies: ["KeelProtocol", "KeelProtocolGen", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "KeelMCPTests", dependencies: ["KeelMCP", "KeelClient", "KeelCore"], swiftSettings: swiftSettings),
        .testTarget(name: "KeelStorageTests", dependencies: ["KeelStorage", "KeelTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KeelServerTests",
            dependencies: [
                "KeelTesting", "KeelProtocol", "KeelTracing", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // A Swift worker process: the conformance worker (--conformance) and the cross-language demo.
        .executableTarget(
            name: "keel-swift-worker", dependencies: ["KeelClient", "KeelCore"], path: "clients/swift/Worker",
            swiftSettings: swiftSettings),
        // The built `keel` binary with real workers in Python, Go and Swift, and kill -9.
        .testTarget(
            name: "EndToEndTests", dependencies: ["KeelTesting", "KeelBench"], exclude: ["workers"], swiftSettings: swiftSettings),
    ] + (withPostgres ? postgresTargets : []) + (withWeb ? webTargets : [])
)

/// The web UI (`keel serve --http`, docs/ui.md): server-rendered pages on Hummingbird, and its tests.
var webTargets: [Target] {
    [
        .target(
            name: "KeelWeb",
            dependencies: [
                "KeelCore", "KeelEngine", "KeelServer", "KeelProtocol", "KeelStorage", "KeelMCP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "KeelWebTests", dependencies: ["KeelWeb", "KeelTesting"], swiftSettings: swiftSettings),
    ]
}

/// The PostgreSQL backend of `Store` and its conformance run against a PostgreSQL the tests start.
var postgresTargets: [Target] {
    [
        .target(
            name: "KeelPostgres",
            dependencies: [
                "KeelCore", "KeelStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KeelPostgresTests",
            dependencies: [
                "KeelPostgres", "KeelTesting", "KeelEngine", "KeelClient",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings),
    ]
}
