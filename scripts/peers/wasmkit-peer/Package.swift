// swift-tools-version: 6.1
import PackageDescription

// The WasmKit peer for scripts/peers/run.sh: a separate package so that ftbench itself does not
// depend on WasmKit. `wasmkit-peer FILE.wat` assembles the module, instantiates it and times
// only the call of its exported `run`.
let package = Package(
    name: "ftbench-peers-wasmkit",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
    ],
    targets: [
        .executableTarget(
            name: "WasmKitPeer",
            dependencies: [
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
            ]
        ),
    ]
)
