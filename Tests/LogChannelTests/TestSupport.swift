#if canImport(Glibc)
import Glibc
#endif

/// Long stress runs: FTBENCH_LONG_TESTS=1.
let longTests = getenv("FTBENCH_LONG_TESTS").map { String(cString: $0) == "1" } ?? false

/// Payload bytes derived from a sequence number, so the receiver can check every byte.
func pattern(seq: UInt64, length: Int) -> [UInt8] {
    (0..<length).map { UInt8(truncatingIfNeeded: seq &* 31 &+ UInt64($0) &* 7) }
}
