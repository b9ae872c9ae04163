import CJemalloc
import FTBenchCLI

/// The allocator this process runs on, for meta.json: jemalloc is linked in, so it serves every
/// allocation; asking it for its version proves it.
func allocatorDescription() -> String {
    var version: UnsafePointer<CChar>?
    var size = MemoryLayout<UnsafePointer<CChar>?>.size
    guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return "unknown" }
    return "jemalloc \(String(cString: version))"
}

FTBench.allocator = allocatorDescription()
FTBench.runCommandLine()
