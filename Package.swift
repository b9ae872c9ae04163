// swift-tools-version: 6.1
import PackageDescription

// Module graph (dependencies flow one way):
//   ftbench (thin executable) -> FTBenchCLI -> Reporting -> Harness -> Replication -> (GuestVM, LogTrace ->
//   LogChannel) -> Topology -> CPlatform; measurement code (ChannelMeasurement) sits beside the product and
//   is used by Harness's calibration and the benchmarks.
/// ftbench's link flags: a static Swift runtime, standard library and Foundation (the archives in
/// one group, since they refer to each other in both directions and the compiler's automatic
/// link entries name only their dynamic forms), in a position-dependent executable, so that the
/// dynamic loader has no Swift libraries to load or relocate. A fully static executable
/// (`-static-executable`: glibc, libstdc++, libnuma and jemalloc too) started faster still, but
/// ran the interpreter's `loop` 1.6 times slower with the same instructions (callgrind counts
/// equal): a layout effect not understood, so not taken. docs/INTERPRETER.md, "Start-up".
let staticRuntime = ["-static-stdlib", "-Xclang-linker", "-no-pie", "-Xlinker", "--start-group"]
    + ["Foundation", "FoundationEssentials", "FoundationInternationalization", "CoreFoundation", "_FoundationICU",
       "_FoundationCShims", "_FoundationCollections", "swiftDispatch", "dispatch", "BlocksRuntime", "swiftSynchronization",
       "swift_Concurrency", "swift_StringProcessing", "swift_RegexParser", "swiftGlibc", "swiftCore", "stdc++"].map { "-l" + $0 }
    + ["-Xlinker", "--end-group"]

/// Release builds of the two modules on the replication hot path skip Swift's dynamic
/// exclusivity checks (a `swift_beginAccess` call for each access to a class's stored `var` that
/// the compiler cannot prove exclusive): 6-9% of each side's time replicating `nondet`, whose
/// log has an entry every 5.5 guest instructions (perf, docs/LOGCHANNEL.md "Side-local ends").
/// Debug builds, which the tests run, keep the checks, so a violation still traps there.
let withoutDynamicExclusivityInRelease = SwiftSetting.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))

let package = Package(
    name: "ftbench",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ftbench", targets: ["ftbench"]),
        .library(name: "GuestVM", targets: ["GuestVM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Suite files: TOMLKit wraps toml++, a complete TOML 1.0 parser whose errors carry the
        // line and column (docs/SUITES.md).
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // C shims for libnuma, CPU affinity, futexes, the pause hint and CRC32C.
        .target(name: "CPlatform", linkerSettings: [.linkedLibrary("numa")]),
        .target(name: "Topology", dependencies: ["CPlatform"]),
        .target(
            name: "LogChannel",
            dependencies: ["Topology", "CPlatform", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: [withoutDynamicExclusivityInRelease]
        ),
        // Measurement code, outside the product: SPSC queue experiments between two pinned cores
        // (the ring against a baseline), the cache-line floor and percentiles, used by
        // `ftbench calibrate` and LogChannelBenchmarks.
        .target(
            name: "ChannelMeasurement",
            dependencies: ["LogChannel", "Topology", .product(name: "Atomics", package: "swift-atomics")]
        ),
        .target(
            name: "GuestVM",
            dependencies: ["Topology", "CPlatform"],
            swiftSettings: [
                // Threaded dispatch. The interpreter's switch compiles to a jump table whose
                // 4-instruction dispatch block LLVM will only copy into the handlers if it may
                // tail-duplicate blocks of that size after register allocation (the default is
                // 2, computed gotos are exempt, jump tables are not: llvm/llvm-project#114990).
                // With the copies every handler ends in its own indirect jump (50 of them, from
                // 1), which took fib from 1.25 to 1.13 and sieve from 1.60 to 1.42 ns/instruction
                // here; see docs/INTERPRETER.md.
                //
                // Every block that is not fallen into (each handler's start) aligned to 32 bytes,
                // and every function to 64, so that the interpreter's machine code lies the same
                // way whatever else the binary holds. Without it, changes elsewhere moved
                // `execute` and its handlers against cache-line and fetch boundaries, and that
                // alone moved programs by up to 20% (a calibrate change in Harness: fib 1.17 and
                // hash-rem 1.15 of the build before, the interpreter's code untouched). With it,
                // the same two builds disassemble to the same `execute`, and each program ran
                // within the rounds' spread of the other
                // (results/reference/interpreter-ab-d59c846-block-alignment.md;
                // docs/INTERPRETER.md, "What is left").
                .unsafeFlags(["-Xllvm", "-tail-dup-size=6", "-Xllvm", "-align-all-nofallthru-blocks=5", "-Xllvm", "-align-all-functions=6"]),
                // Optimised in debug builds too: the tests then exercise the interpreter that
                // ships, and the litmus tests need its timing (unoptimised, ~29 ns per guest
                // instruction, a store has drained from the store buffer before the next load
                // runs, so store buffering never shows and a broken fence could not be caught).
                .unsafeFlags(["-O"], .when(configuration: .debug)),
            ]
        ),
        // Log traces on disk: the header, a streaming writer for the backup and a checking reader.
        .target(name: "LogTrace", dependencies: ["LogChannel", "Topology", "CPlatform"]),
        .target(
            name: "Replication",
            dependencies: ["GuestVM", "LogChannel", "LogTrace", "Topology", .product(name: "Histogram", package: "hdrhistogram-swift"),
                           .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: [withoutDynamicExclusivityInRelease]
        ),
        .target(
            name: "Harness",
            dependencies: ["Replication", "GuestVM", "LogChannel", "LogTrace", "ChannelMeasurement", "Topology", "CPlatform", .product(name: "Histogram", package: "hdrhistogram-swift"),
                           .product(name: "TOMLKit", package: "TOMLKit")],
            plugins: ["BuildRevision"]
        ),
        // Reading result sets back: charts (SVG), the HTML report, and comparison of two sets.
        .target(name: "Reporting", dependencies: ["Harness", "Topology"]),
        // The git revision the binary is built from, for meta.json.
        .plugin(name: "BuildRevision", capability: .buildTool()),
        .target(
            name: "FTBenchCLI",
            dependencies: [
                "Harness", "Reporting", "Replication", "GuestVM", "LogChannel", "LogTrace", "Topology",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // jemalloc is the allocator of the ftbench executable only; tests and benchmarks keep the
        // system allocator, which package-benchmark's malloc counters interpose.
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        // Start-up: a static Swift runtime and Foundation (`staticRuntime` above).
        .executableTarget(
            name: "ftbench", dependencies: ["FTBenchCLI", "CJemalloc"],
            linkerSettings: [.unsafeFlags(staticRuntime)]
        ),
        // Test scaffolding: scratch paths removed when the test process exits.
        .target(name: "TestScratch", path: "Tests/TestScratch"),
        .testTarget(name: "GuestVMTests", dependencies: ["GuestVM", "Topology"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology"]),
        .testTarget(name: "LogChannelTests", dependencies: ["LogChannel", "ChannelMeasurement", "Topology", "CPlatform"]),
        .testTarget(name: "LogTraceTests", dependencies: ["TestScratch", "LogTrace", "LogChannel"]),
        .testTarget(name: "ReplicationTests", dependencies: ["TestScratch", "Replication", "Harness", "GuestVM", "LogChannel", "LogTrace", "Topology"]),
        .testTarget(name: "HarnessTests", dependencies: ["TestScratch", "Harness", "Replication", "GuestVM", "LogChannel", "ChannelMeasurement"]),
        .testTarget(name: "ReportingTests", dependencies: ["TestScratch", "Reporting", "Harness"]),
        .testTarget(name: "FTBenchCLITests", dependencies: ["TestScratch", "FTBenchCLI", "Harness", "GuestVM", "LogTrace", "LogChannel", "Topology"]),
        .executableTarget(
            name: "GuestVMBenchmarks",
            dependencies: [
                "GuestVM", "Topology",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/GuestVMBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
            .executableTarget(
            name: "LogChannelBenchmarks",
            dependencies: [
                "LogChannel", "ChannelMeasurement", "Topology",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/LogChannelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
            .executableTarget(
            name: "ReplicationBenchmarks",
            dependencies: [
                "Replication", "Harness", "GuestVM", "LogChannel", "LogTrace", "Topology",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ReplicationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
