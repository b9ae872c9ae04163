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

    public var description: String {
        switch self {
        case .constant: "constant"
        case .poisson: "poisson"
        case .closed(let n): "closed:\(n)"
        }
    }
}

/// The clients of the `kvstore` guest, simulated inside the primary's device emulation.
///
/// Open loop: request i has an intended send time fixed in advance by the arrival process, and
/// its latency is measured from that time (so a server that stalls is charged for every request
/// that should have been sent meanwhile: no coordinated omission, as wrk2 does), and also from
/// the time it was actually handed to the guest (the uncorrected figure, kept beside it).
/// Replies whose sequence number was already answered are dropped and counted, as TCP drops
/// duplicate segments.
///
/// A final class rather than a struct: it carries per-request state for a window of 2^20
/// requests, which must not be copied when the primary takes the client over.
public final class KVClient: ClientLoad, @unchecked Sendable {
    public let rate: Double
    public let arrivals: Arrivals
    private var random: SplitMix64
    private var nextSeq: UInt64 = 1
    private var nextIntended: UInt64
    private let start: UInt64
    /// Per outstanding request: intended and actual send time, indexed by seq modulo the size.
    private var intended: [UInt64]
    private var actual: [UInt64]
    private var answered: [Bool]
    private var outstanding = 0
    private var measuring = false
    private var measureFrom: UInt64 = 0

    /// Latency from the intended send time, nanoseconds.
    public private(set) var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    /// Latency from the actual send time, nanoseconds.
    public private(set) var uncorrected = Histogram<UInt64>(highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    public private(set) var repliesMeasured = 0
    /// Every reply accepted, measured or not.
    public private(set) var repliesReceived = 0
    public private(set) var duplicateReplies = 0
    public private(set) var unknownReplies = 0
    public private(set) var sentMeasured = 0

    static let window = 1 << 20

    /// - Parameters:
    ///   - rate: offered requests per second (ignored for closed loop).
    ///   - keys: requests address keys 1...keys, half GETs and half PUTs.
    public init(rate: Double, arrivals: Arrivals, seed: UInt64, start: UInt64 = monotonicNanos()) {
        self.rate = rate
        self.arrivals = arrivals
        random = SplitMix64(seed: seed ^ 0xC11E)
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

    public func sendNext(into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> Int {
        let seq = nextSeq
        nextSeq += 1
        let slot = Int(seq & UInt64(Self.window - 1))
        intended[slot] = nextIntended
        actual[slot] = now
        answered[slot] = false
        outstanding += 1
        if measuring, nextIntended >= measureFrom { sentMeasured += 1 }
        switch arrivals {
        case .constant:
            nextIntended = start + UInt64(Double(seq) * 1e9 / rate)
        case .poisson:
            nextIntended += UInt64(-log(1 - random.nextUnit()) * 1e9 / rate)
        case .closed:
            nextIntended = now
        }
        let key = random.next() % 10_000 + 1
        let request = KVStoreProtocol.request(seq: seq, op: random.next() & 1 == 0 ? .get : .put, key: key, value: random.next())
        request.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return request.count
    }

    public func receive(_ reply: UnsafeRawBufferPointer, now: UInt64) {
        guard let decoded = KVStoreProtocol.reply(reply), decoded.seq > 0, decoded.seq < nextSeq,
              nextSeq - decoded.seq <= UInt64(Self.window) else {
            unknownReplies += 1
            return
        }
        let slot = Int(decoded.seq & UInt64(Self.window - 1))
        guard !answered[slot] else {
            duplicateReplies += 1
            return
        }
        answered[slot] = true
        outstanding -= 1
        repliesReceived += 1
        if case .closed = arrivals { nextIntended = max(nextIntended, now) }
        guard measuring, intended[slot] >= measureFrom else { return }
        latency.record(now - intended[slot])
        uncorrected.record(now - actual[slot])
        repliesMeasured += 1
    }

    public func startMeasuring(now: UInt64) {
        measuring = true
        measureFrom = now
    }
}
