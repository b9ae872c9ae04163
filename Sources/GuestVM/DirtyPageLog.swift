/// Which pages of guest memory were written since they were last taken, while a state transfer
/// tracks writes: what its pre-copy rounds and its final stop-and-copy send again.
///
/// Tracking costs nothing while it is off: the interpreter is specialised for a store observer
/// that does nothing (`UntrackedStores`) and for one that marks pages here
/// (`DirtyPageMarker`), and `Machine.run` picks one per call (GuestVMBenchmarks' figures are
/// those of the untracked specialisation). A page is 4 KiB, as an x86 host's.
///
/// Ownership: the log owns one zeroed bitmap, a bit per page, freed in `deinit`. The interpreter
/// marks through a copy of its pointer and device writes through `mark`; `take` reads and clears
/// it. All of that happens on the one host thread that runs the machine, so plain loads and stores
/// suffice.
public final class DirtyPageLog {
    public static let pageShift = 12
    public static let pageSize = 1 << pageShift

    let words: UnsafeMutablePointer<UInt64>
    let wordCount: Int
    public let pageCount: Int

    init(pageCount: Int) {
        self.pageCount = pageCount
        wordCount = (pageCount + 63) / 64
        words = .allocate(capacity: wordCount)
        words.initialize(repeating: 0, count: wordCount)
    }

    deinit { words.deallocate() }

    /// Marks the pages `[address, address + count)` touches (`count` > 0).
    @inline(__always)
    func mark(address: UInt64, count: UInt64) {
        DirtyPageMarker(words: words).stored(at: address, width: count)
    }

    /// Pages marked since the last `take`.
    public var count: Int {
        (0..<wordCount).reduce(0) { $0 + words[$1].nonzeroBitCount }
    }

    /// Appends the index of every marked page to `pages`, in ascending order, and clears the
    /// marks. Allocates nothing if `pages` has the capacity.
    public func take(into pages: inout [Int]) {
        for w in 0..<wordCount {
            var word = words[w]
            words[w] = 0
            while word != 0 {
                pages.append(w << 6 | word.trailingZeroBitCount)
                word &= word &- 1
            }
        }
    }
}

/// What the interpreter does after each store to guest memory (`st*`, `push`, `call`, `cas`,
/// `xadd`). A protocol, so that each observer gets its own specialised interpreter loop.
protocol StoreObserver {
    func stored(at address: UInt64, width: UInt64)
}

/// No write tracking: the store costs exactly the store.
struct UntrackedStores: StoreObserver {
    @inline(__always) func stored(at address: UInt64, width: UInt64) {}
}

/// Marks the page (or, for a store across a page boundary, the two pages) a store wrote.
struct DirtyPageMarker: StoreObserver {
    let words: UnsafeMutablePointer<UInt64>

    @inline(__always)
    func stored(at address: UInt64, width: UInt64) {
        let first = Int(truncatingIfNeeded: address >> UInt64(DirtyPageLog.pageShift))
        let last = Int(truncatingIfNeeded: (address &+ width &- 1) >> UInt64(DirtyPageLog.pageShift))
        words[first >> 6] |= 1 << UInt64(first & 63)
        if last != first { words[last >> 6] |= 1 << UInt64(last & 63) }
    }
}
