import CPlatform

#if canImport(Glibc)
import Glibc
#endif

/// One zero-filled, page-aligned allocation, placed on a NUMA node when the machine has NUMA
/// support, else mapped anonymously.
///
/// Ownership: the instance owns `base` for its whole life and frees it in `deinit` the way it
/// was allocated. It makes no promise about concurrent access: that is the contract of whoever
/// lays data out in it.
public final class NodeLocalMemory: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let size: Int
    /// The node the memory was placed on, or nil if it was allocated without NUMA placement.
    public let node: Int?

    /// - Parameter node: the preferred NUMA node; nil, or a node that does not exist, falls back
    ///   to an ordinary allocation (this machine has one node: `numa_run_on_node(1)` fails).
    public init(size: Int, node: Int?) {
        precondition(size > 0, "NodeLocalMemory needs a positive size")
        if let node, let placed = ftb_numa_alloc_onnode(size, Int32(node)) {
            base = placed
            self.node = node
        } else if let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED {
            // A mapping of its own (page-aligned, zero-filled), never memory the heap shares
            // with other objects.
            base = mapped
            self.node = nil
        } else {
            preconditionFailure("out of memory: cannot map \(size) bytes")
        }
        self.size = size
    }

    deinit {
        if node != nil {
            ftb_numa_free(base, size)
        } else {
            munmap(base, size)
        }
    }
}

/// Futex wait and wake on a 32-bit word: how a parked thread sleeps without a lock.
public enum Futex {
    /// Sleeps while `*word == expected`, at most `timeoutNanos` (nil: no limit). Spurious
    /// returns are possible: callers re-check their condition. Returns whether the sleep ended
    /// by the timeout.
    @discardableResult
    public static func wait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanos: UInt64?) -> Bool {
        ftb_futex_wait(word, expected, timeoutNanos.map { Int64(clamping: $0) } ?? -1) == ETIMEDOUT
    }

    public static func wake(_ word: UnsafeMutablePointer<UInt32>, count: Int32 = .max) {
        ftb_futex_wake(word, count)
    }
}
