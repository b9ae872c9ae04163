import Topology

/// Outputs held on the primary until the backup has acknowledged the log entry before them.
///
/// Storage: a ring of records and a byte arena, both allocated once; holding and releasing
/// allocate nothing. Ownership: the instance owns both and frees them in `deinit`. Used by the
/// primary's thread only.
public final class OutputRule {
    struct Held {
        var tag: UInt64
        var offset: Int
        var length: Int
        /// Arena bytes this record frees: its length, plus the arena tail it skipped to stay
        /// contiguous.
        var footprint: Int
    }

    private let records: UnsafeMutablePointer<Held>
    private let recordCapacity: Int
    private let arena: UnsafeMutableRawPointer
    private let arenaCapacity: Int
    private var first = 0
    private var count = 0
    private var arenaHead = 0
    private var arenaUsed = 0

    /// Every release, in order, when tracing: the output's tag and the clock read as it was
    /// handed over (for `OutputRuleAudit`).
    public private(set) var trace: [(tag: UInt64, releasedAt: UInt64)]?
    /// Outputs are released when the ACK reaches `tag - early`: 0, except under
    /// `Sabotage.releaseOneEntryEarly`.
    private let early: UInt64

    public init(records: Int = 1 << 16, arenaBytes: Int = 8 << 20, tracing: Bool = false, early: UInt64 = 0) {
        self.early = early
        recordCapacity = records
        self.records = .allocate(capacity: records)
        arenaCapacity = arenaBytes
        arena = .allocate(byteCount: arenaBytes, alignment: 64)
        trace = tracing ? [] : nil
    }

    deinit {
        records.deallocate()
        arena.deallocate()
    }

    public var heldCount: Int { count }

    /// Holds a copy of `bytes` until an ACK covers `tag`; false if there is no room (the primary
    /// must wait for ACKs first).
    public func hold(_ bytes: UnsafeRawBufferPointer, tag: UInt64) -> Bool {
        guard count < recordCapacity else { return false }
        var offset = arenaHead
        var skipped = 0
        if offset + bytes.count > arenaCapacity {
            skipped = arenaCapacity - offset
            offset = 0
        }
        guard bytes.count + skipped <= arenaCapacity - arenaUsed else { return false }
        if let source = bytes.baseAddress, bytes.count > 0 { (arena + offset).copyMemory(from: source, byteCount: bytes.count) }
        records[(first + count) % recordCapacity] = Held(tag: tag, offset: offset, length: bytes.count, footprint: bytes.count + skipped)
        arenaHead = offset + bytes.count
        arenaUsed += bytes.count + skipped
        count += 1
        return true
    }

    /// Releases, in order, every held output whose tag is at most `acknowledged`.
    @discardableResult
    public func release(upTo acknowledged: UInt64, _ deliver: (UnsafeRawBufferPointer) -> Void) -> Int {
        var released = 0
        while count > 0 {
            let held = records[first]
            guard held.tag <= acknowledged + early else { break }
            deliver(UnsafeRawBufferPointer(start: arena + held.offset, count: held.length))
            if trace != nil { trace!.append((held.tag, monotonicNanos())) }
            arenaUsed -= held.footprint
            first = (first + 1) % recordCapacity
            count -= 1
            released += 1
        }
        if count == 0 {
            arenaHead = 0
            arenaUsed = 0
        }
        return released
    }
}
