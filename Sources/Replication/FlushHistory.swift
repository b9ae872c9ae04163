/// When each log entry was published, kept per flush: the primary's record for measuring how far
/// the backup lags.
///
/// Each flush publishes entries up to some seq at one instant, so a flush is one record
/// `(last seq, time)` in a ring of `capacity` records, and the time an entry was published is the
/// time of the first flush whose last seq reaches it. Main kept one stamp per entry in a fixed
/// 65,536-entry array and fell back to the run's start for anything older, so a backup more than
/// 65,536 entries behind (a larger `--log-capacity`, or a full ring plus stale ACKs) looked
/// seconds late and the primary throttled for nothing. Per flush, 65,536 records cover about
/// 1.5 s of a primary that flushes every 20,000-instruction slice (~23 µs here), far beyond any
/// channel's round trip; for an entry older still the oldest record's time is returned, which
/// understates the lag instead of inventing one.
///
/// Each record also keeps how long the primary had been paused for lag by then, so that the
/// backlog (`runningSince`) counts only the time the primary ran: a backup replays what the
/// primary executed, not the time it stood still.
///
/// Storage: three arrays of `capacity` words, allocated once and owned by the instance (freed in
/// `deinit`); recording and looking up allocate nothing. Used by the primary's thread only.
final class FlushHistory {
    private let lastSeqs: UnsafeMutablePointer<UInt64>
    private let times: UnsafeMutablePointer<UInt64>
    private let paused: UnsafeMutablePointer<UInt64>
    private let mask: Int
    /// Records ever made; the newest is at `(count - 1) & mask`.
    private var count = 0

    /// - Parameter capacity: records kept, a power of two.
    init(capacity: Int = 1 << 16) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "capacity must be a power of two")
        mask = capacity - 1
        lastSeqs = .allocate(capacity: capacity)
        times = .allocate(capacity: capacity)
        paused = .allocate(capacity: capacity)
    }

    deinit {
        lastSeqs.deallocate()
        times.deallocate()
        paused.deallocate()
    }

    /// Entries up to `lastSeq` were published at `time`, when the primary had been paused for
    /// `pausedNanos` in all (seqs, times and pauses never decrease).
    func record(lastSeq: UInt64, at time: UInt64, pausedNanos: UInt64 = 0) {
        lastSeqs[count & mask] = lastSeq
        times[count & mask] = time
        paused[count & mask] = pausedNanos
        count += 1
    }

    /// When `seq` was published (`at`: the time of the first retained flush that covered it, the
    /// oldest retained flush's time if `seq` is older than every record) and how long the primary
    /// ran since, pauses left out, to its latest flush (`runningSince`: the backlog of a backup
    /// whose next entry is `seq`, in the primary's time), from one search. Nil if no flush has
    /// covered `seq` yet.
    func publication(of seq: UInt64) -> (at: UInt64, runningSince: UInt64)? {
        guard let first = record(covering: seq) else { return nil }
        let newest = (count - 1) & mask
        let end = times[newest] &- paused[newest], start = times[first] &- paused[first]
        return (times[first], end > start ? end - start : 0)
    }

    /// The slot of the first retained flush that covered `seq` (the oldest if `seq` is older than
    /// every record), or nil if none has.
    private func record(covering seq: UInt64) -> Int? {
        guard count > 0, lastSeqs[(count - 1) & mask] >= seq else { return nil }
        // Binary search over the retained records, oldest first, for the first lastSeq >= seq.
        var low = max(0, count - (mask + 1)), high = count - 1
        while low < high {
            let middle = (low + high) / 2
            if lastSeqs[middle & mask] >= seq { high = middle } else { low = middle + 1 }
        }
        return low & mask
    }
}
