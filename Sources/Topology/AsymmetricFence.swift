import CPlatform

/// A store-then-load fence between two threads whose cost falls on one of them (an asymmetric
/// Dekker fence): the thread on the fast path keeps only the compiler from reordering (`light`),
/// and the other makes every running thread of the process execute a full barrier (`heavy`,
/// membarrier(2)). Pattern: fast thread `store A; light(); load B`, slow thread
/// `store B; heavy(); load A`: at least one of the loads sees the other thread's store, as with
/// a full fence on both sides.
public enum AsymmetricFence {
    /// Whether `heavy` is available (the kernel has expedited private membarrier and this
    /// process is registered for it; registered on first use).
    public static let isAvailable: Bool = ftb_membarrier_register() == 1

    @inlinable @inline(__always)
    public static func light() { ftb_compiler_barrier() }

    /// Returns false if the barrier could not be made (then the pattern does not hold).
    public static func heavy() -> Bool { ftb_membarrier() == 0 }
}
