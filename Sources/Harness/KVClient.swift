#if canImport(Glibc)
import Glibc
#endif
import GuestVM
import Histogram
import Replication
import Topology

/// How requests arrive.
public enum Arrivals: Equatable, Sendable, CustomStringConvertible {
    /// Open loop, evenly spaced at the rate.
    case constant
    /// Open loop, exponentially distributed gaps with the rate as mean (a Poisson process).
    case poisson
    /// Closed loop: this many requests outstanding; each reply lets the next one go.
    case closed(outstanding: Int)

    public var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .constant: "constant"
        case .poisson: "poisson"
        case .closed(let n): "closed:\(n)"
        }
    }
}

/// The clients of the `kvstore` guest, behind the `ClientNetwork` that both sides share.
///
/// Open loop: request i has an intended send time fixed in advance by the arrival process, and
/// its latency is measured from that time (so a server that stalls is charged for every request
/// that should have been sent meanwhile: no coordinated omission, as wrk2 does), and also from
/// the time it was actually handed to the guest (the uncorrected figure, kept beside it).
/// The network's transport drops replies whose sequence number was already answered, as TCP
/// drops duplicate segments; a duplicate that gets through anyway is counted here.
///
/// A final class rather than a struct: it carries per-request state for a window of 2^20
/// requests, which must not be copied when the primary takes the client over.
public final class KVClient: ClientLoad, @unchecked Sendable {
    public let rate: Double
    public let arrivals: Arrivals
    private var random: SplitMix64
    private let requestSeed: UInt64
    private var nextSeq: UInt64 = 1
    private var nextIntended: UInt64
    /// Nanoseconds from `start` to the next intended send time, unrounded, so that gaps shorter
    /// than a nanosecond (rates above 10^9/s) still add up.
    private var arrivalOffset: Double = 0
    private let start: UInt64
    /// Per outstanding request: intended and actual send time, indexed by seq modulo the size.
    private var intended: [UInt64]
    private var actual: [UInt64]
    private var answered: [Bool]
    private var outstanding = 0
    private var measuring = false
    private var measureFrom: UInt64 = 0
    private var measureUntil: UInt64 = .max
    private var loadAtStart: HostLoad?
    /// CPU time others took during the window (nil if /proc could not be read).
    public private(set) var interference: Interference?

    /// Latency from the intended send time, nanoseconds.
    public private(set) var latency = makeHistogram()
    /// Latency from the actual send time, nanoseconds.
    public private(set) var uncorrected = makeHistogram()

    /// Nanoseconds up to an hour (the longest run `ftbench run` accepts), three significant digits.
    public static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
    }
    /// Replies to requests intended inside the window (their latencies are in `latency`).
    public private(set) var repliesMeasured = 0
    /// Every reply accepted, measured or not.
    public private(set) var repliesReceived = 0
    /// Replies that arrived inside the window, whenever their requests were intended: the
    /// achieved throughput.
    public private(set) var repliesInWindow = 0
    public private(set) var duplicateReplies = 0
    public private(set) var unknownReplies = 0
    /// Requests intended inside the window and handed to the guest.
    public private(set) var sentMeasured = 0
    /// Requests intended inside the window that were never handed to the guest (the server
    /// fell behind the schedule): charged in `latency` by `chargeUnanswered`.
    public private(set) var unsentMeasured = 0
    /// Requests intended inside the window, sent, but not answered by `chargeUnanswered`.
    public private(set) var unansweredMeasured = 0
    /// Requests whose intended send time fell inside the window.
    public var intendedMeasured: Int { sentMeasured + unsentMeasured }

    /// Charging requests the server never took one by one stops here; the rest are charged in
    /// bulk (see `chargeUnanswered`).
    static let unsentChargedOneByOne = 2_000_000

    static let window = 1 << 20

    /// - Parameters:
    ///   - rate: offered requests per second (ignored for closed loop).
    ///   - keys: requests address keys 1...keys, half GETs and half PUTs.
    public init(rate: Double, arrivals: Arrivals, seed: UInt64, start: UInt64 = monotonicNanos()) {
        self.rate = rate
        self.arrivals = arrivals
        random = SplitMix64(seed: seed ^ 0xC11E)
        requestSeed = seed ^ 0x5EED_0000
        self.start = start
        nextIntended = start
        intended = Array(repeating: 0, count: Self.window)
        actual = Array(repeating: 0, count: Self.window)
        answered = Array(repeating: true, count: Self.window)
    }

    public var nextIntendedTime: UInt64? {
        if case .closed(let n) = arrivals { return outstanding < n ? nextIntended : nil }
        return outstanding < Self.window ? nextIntended : nil
    }

    public func sendNext(into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> (length: Int, seq: UInt64) {
        let seq = nextSeq
        nextSeq += 1
        let slot = Int(seq & UInt64(Self.window - 1))
        intended[slot] = nextIntended
        actual[slot] = now
        answered[slot] = false
        outstanding += 1
        if measuring, nextIntended >= measureFrom, nextIntended < measureUntil { sentMeasured += 1 }
        if case .closed = arrivals { nextIntended = now } else { advanceSchedule(seq: seq) }
        return (request(seq: seq, into: buffer), seq)
    }

    /// Request `seq`'s bytes, a function of the seed and `seq` alone, so that a retransmission
    /// is the same request: half GETs, half PUTs, keys 1...10,000.
    public func request(seq: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var words = SplitMix64(seed: requestSeed ^ seq &* 0x9E37_79B9_7F4A_7C15)
        let key = words.next() % 10_000 + 1
        let op: KVStoreProtocol.Operation = words.next() & 1 == 0 ? .get : .put
        return KVStoreProtocol.write(seq: seq, op: op, key: key, value: words.next(), into: buffer)
    }

    public static func replySeq(_ reply: UnsafeRawBufferPointer) -> UInt64? {
        reply.count == KVStoreProtocol.replySize ? UInt64(littleEndian: reply.loadUnaligned(as: UInt64.self)) : nil
    }

    /// Moves the open-loop schedule to the request after `seq`.
    private func advanceSchedule(seq: UInt64) {
        switch arrivals {
        case .constant: arrivalOffset = Double(seq) * 1e9 / rate
        case .poisson: arrivalOffset += -log(1 - random.nextUnit()) * 1e9 / rate
        case .closed: return
        }
        nextIntended = start + UInt64(min(arrivalOffset, 1.8e19))
    }

    /// The application's side: a reply whose request it already has an answer for is counted
    /// in `duplicateReplies` (the network's transport drops duplicates before they get here, so
    /// it stays 0 unless that is sabotaged).
    @discardableResult
    public func receive(_ reply: UnsafeRawBufferPointer, now: UInt64) -> UInt64? {
        guard let decoded = KVStoreProtocol.reply(reply), decoded.seq > 0, decoded.seq < nextSeq,
              nextSeq - decoded.seq <= UInt64(Self.window) else {
            unknownReplies += 1
            return nil
        }
        let slot = Int(decoded.seq & UInt64(Self.window - 1))
        guard !answered[slot] else {
            duplicateReplies += 1
            return nil
        }
        answered[slot] = true
        outstanding -= 1
        repliesReceived += 1
        if measuring, now < measureUntil { repliesInWindow += 1 }
        if case .closed = arrivals { nextIntended = max(nextIntended, now) }
        guard measuring, intended[slot] >= measureFrom, intended[slot] < measureUntil else { return now - intended[slot] }
        latency.record(now - intended[slot])
        uncorrected.record(now - actual[slot])
        repliesMeasured += 1
        return now - intended[slot]
    }

    /// Also samples the host's CPU times: the client is told exactly when the window opens and
    /// closes (two small /proc reads at each end, outside the hot path).
    public func startMeasuring(now: UInt64) {
        guard !measuring else { return }
        measuring = true
        measureFrom = now
        loadAtStart = HostLoad.sample()
    }

    public func stopMeasuring(now: UInt64) {
        guard measuring, measureUntil == .max else { return }
        measureUntil = now
        if let start = loadAtStart, let end = HostLoad.sample() { interference = end.since(start) }
    }

    /// After the run: charges every request intended inside the window and still unanswered
    /// at `now` with the latency it has at least reached, `now` minus its intended time, as a
    /// coordinated-omission-free load generator must (wrk2 keeps sending late requests and
    /// charges them from their intended time; a run that stops cannot send them, so it charges
    /// what they have waited so far). Requests sent and unanswered are charged one by one;
    /// those never sent follow the arrival process from the first unsent one to the window's
    /// end, one by one up to `unsentChargedOneByOne`, then in bulk, spread evenly over the
    /// rest of the window (their expected arrival density, for both open-loop processes).
    public func chargeUnanswered(now: UInt64) {
        guard measuring else { return }
        let end = min(measureUntil, now)
        for slot in 0..<Self.window where !answered[slot] && intended[slot] >= measureFrom && intended[slot] < end {
            latency.record(now - intended[slot])
            unansweredMeasured += 1
        }
        if case .closed = arrivals { return }
        var seq = nextSeq
        while nextIntended < end, unsentMeasured < Self.unsentChargedOneByOne {
            if nextIntended >= measureFrom {
                latency.record(now - nextIntended)
                unsentMeasured += 1
            }
            advanceSchedule(seq: seq)
            seq += 1
        }
        guard nextIntended < end else { return }
        let from = max(nextIntended, measureFrom)
        let remaining = rate * Double(end - from) / 1e9
        let bins = 1_000
        let width = Double(end - from) / Double(bins)
        var charged = 0.0
        for bin in 0..<bins {
            let count = UInt64((remaining * Double(bin + 1) / Double(bins)).rounded() - charged)
            charged += Double(count)
            guard count > 0 else { continue }
            latency.record(now - (from + UInt64(width * (Double(bin) + 0.5))), count: count)
            unsentMeasured += Int(count)
        }
    }
}
