// swift-tools-version:6.1
import PackageDescription

/// libFuzzer targets for Keel's parsers (docs/testing.md, "Fuzzing").
///
/// A separate package so that the main `swift build` never sees the sanitizer flags. Build and run
/// through `.ci/fuzz`, which passes `-sanitize=fuzzer,address` and uses the scratch path `.build-fuzz`.
/// Each target's top-level code hands its test function to libFuzzer's driver (see CFuzzDriver.h).

let package = Package(
    name: "keel-fuzz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fuzz-json", targets: ["FuzzJSON"]),
        .executable(name: "fuzz-frames", targets: ["FuzzFrames"]),
        .executable(name: "fuzz-numbers", targets: ["FuzzNumbers"]),
        .executable(name: "fuzz-schema", targets: ["FuzzSchema"]),
    ],
    dependencies: [
        .package(name: "keel", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"]),
        .executableTarget(
            name: "FuzzJSON", dependencies: ["FuzzSupport", .product(name: "KeelCore", package: "keel")]
        ),
        .executableTarget(
            name: "FuzzFrames",
            dependencies: [
                "FuzzSupport", .product(name: "KeelCore", package: "keel"), .product(name: "KeelProtocol", package: "keel"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzNumbers", dependencies: ["FuzzSupport", .product(name: "KeelCore", package: "keel")]
        ),
        .executableTarget(
            name: "FuzzSchema",
            dependencies: [
                "FuzzSupport", .product(name: "KeelCore", package: "keel"),
                .product(name: "KeelSchema", package: "keel"),
            ]
        ),
    ]
)
