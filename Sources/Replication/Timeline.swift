/// What clients saw, bucket by bucket over the whole run (warm-up included), so that a failover
/// dip can be charted: replies, latency percentiles, log bandwidth and the address owner's epoch.
///
/// Buckets are 10 ms, or wider for runs longer than 10 minutes (at most 60,000 buckets). Each
/// bucket's latencies go into a log-linear histogram with 4 sub-buckets per power of two from
/// 1 µs to 275 s (448 bytes a bucket), so a percentile is exact to within 19% (the reported
/// value is the sub-bucket's midpoint, within ±9%): fine for a chart, while the run's own
/// percentiles come from the full HdrHistogram. Storage for the run's length is reserved up
/// front (at most 27 MB of address space, touched only as buckets fill), so recording a reply
/// allocates nothing; only the final drain past the end may grow it. Used under
/// `ClientNetwork`'s lock.
public final class Timeline {
    /// The run's start; set once, before either side runs.
    public internal(set) var start: UInt64 = 0
    public let bucketNanos: UInt64
    static let subBuckets = 4
    static let lowestOctave = 10
    static let octaves = 28
    static var countsPerBucket: Int { subBuckets * octaves }

    public private(set) var replies: [UInt32] = []
    public private(set) var epochs: [UInt32] = []
    private var counts: [UInt32] = []
    /// Log bytes sent per bucket, filled in from each primary after the run.
    public private(set) var logBytes: [UInt64] = []

    /// 10 ms, or wider for a run so long that it would need more than 60,000 buckets.
    static func bucketNanos(forDuration durationNanos: UInt64) -> UInt64 { max(10_000_000, durationNanos / 60_000) }

    init(durationNanos: UInt64) {
        bucketNanos = Self.bucketNanos(forDuration: durationNanos)
        let buckets = Int(durationNanos / bucketNanos) + 2
        replies.reserveCapacity(buckets)
        epochs.reserveCapacity(buckets)
        counts.reserveCapacity(buckets * Self.countsPerBucket)
        logBytes.reserveCapacity(buckets)
    }

    public var bucketCount: Int { replies.count }

    func bucket(at now: UInt64) -> Int { Int((now > start ? now - start : 0) / bucketNanos) }

    private func grow(to bucket: Int) {
        guard bucket >= replies.count else { return }
        let added = bucket + 1 - replies.count
        replies.append(contentsOf: repeatElement(0, count: added))
        epochs.append(contentsOf: repeatElement(0, count: added))
        counts.append(contentsOf: repeatElement(0, count: added * Self.countsPerBucket))
        logBytes.append(contentsOf: repeatElement(0, count: added))
    }

    func reply(at now: UInt64, latency: UInt64?, epoch: UInt64) {
        let b = bucket(at: now)
        grow(to: b)
        replies[b] &+= 1
        epochs[b] = UInt32(truncatingIfNeeded: epoch)
        if let latency { counts[b * Self.countsPerBucket + Self.index(latency)] &+= 1 }
    }

    /// Adds a primary's log bytes per bucket (`bytes[i]` sent during bucket i).
    func addLogBytes(_ bytes: [UInt64]) {
        guard let last = bytes.lastIndex(where: { $0 > 0 }) else { return }
        grow(to: last)
        for (i, n) in bytes.enumerated() where n > 0 { logBytes[i] += n }
    }

    static func index(_ nanos: UInt64) -> Int {
        let v = max(nanos, 1 << lowestOctave)
        let octave = 63 - v.leadingZeroBitCount
        guard octave < lowestOctave + octaves else { return countsPerBucket - 1 }
        let sub = Int((v >> (octave - 2)) & 3)
        return (octave - lowestOctave) * subBuckets + sub
    }

    /// The midpoint of a sub-bucket, nanoseconds.
    static func value(ofIndex index: Int) -> UInt64 {
        let octave = index / subBuckets + lowestOctave
        let sub = UInt64(index % subBuckets)
        let low = (UInt64(1) << octave) + sub * (UInt64(1) << (octave - 2))
        return low + (UInt64(1) << (octave - 2)) / 2
    }

    /// The `q`-th percentile (0...100) of bucket `b`'s latencies, nanoseconds; nil if it has none.
    public func percentile(_ q: Double, bucket b: Int) -> UInt64? {
        let slice = counts[b * Self.countsPerBucket ..< (b + 1) * Self.countsPerBucket]
        let total = slice.reduce(0) { $0 + UInt64($1) }
        guard total > 0 else { return nil }
        let rank = max(1, UInt64((q / 100 * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in slice.enumerated() {
            seen += UInt64(c)
            if seen >= rank { return Self.value(ofIndex: i) }
        }
        return Self.value(ofIndex: Self.countsPerBucket - 1)
    }
}

/// Log bytes a primary sent, per timeline bucket: preallocated for the run's length plus the
/// final drain, so recording allocates nothing. Written by one primary's thread.
struct LogRateRecorder {
    private(set) var bytes: [UInt64]
    private let start: UInt64
    private let width: UInt64
    private var lastTotal: UInt64 = 0

    init(start: UInt64, durationNanos: UInt64) {
        self.start = start
        width = Timeline.bucketNanos(forDuration: durationNanos)
        bytes = Array(repeating: 0, count: Int(durationNanos / width) + 64)
    }

    /// The sender's cumulative `total` bytes at `now`.
    mutating func record(total: UInt64, at now: UInt64) {
        let b = min(Int((now > start ? now - start : 0) / width), bytes.count - 1)
        bytes[b] &+= total &- lastTotal
        lastTotal = total
    }
}
