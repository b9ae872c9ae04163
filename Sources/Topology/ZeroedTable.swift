#if canImport(Glibc)
import Glibc
#endif

/// A fixed table of `count` plain values, all zero at first, allocated with `calloc`: a large
/// table comes straight from the kernel as untouched zero pages, so making one costs no time and
/// memory is committed only where it is written (the client network's 2^20-slot tables took
/// 60 ms to zero per scenario as Swift arrays).
///
/// Ownership: the instance owns the allocation and frees it in `deinit`. Not synchronised: use
/// it from one thread, or under its owner's lock.
public final class ZeroedTable<Element: BitwiseCopyable> {
    public let count: Int
    private let base: UnsafeMutablePointer<Element>

    public init(count: Int) {
        precondition(count > 0, "a table needs at least one slot")
        guard let raw = calloc(count, MemoryLayout<Element>.stride) else { fatalError("cannot allocate a \(count)-slot table") }
        self.count = count
        base = raw.bindMemory(to: Element.self, capacity: count)
    }

    deinit { free(base) }

    /// Makes every slot that of `other` (a table of the same count).
    public func copy(from other: ZeroedTable<Element>) {
        precondition(other.count == count, "tables of \(other.count) and \(count) slots")
        base.update(from: other.base, count: count)
    }

    @inline(__always)
    public subscript(index: Int) -> Element {
        get { base[index] }
        set { base[index] = newValue }
    }
}
