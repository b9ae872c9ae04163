import LogChannel
import Topology

/// How a primary and its backup are run.
public struct ReplicationOptions: Sendable {
    /// Fault tolerance on: a backup replays the log and outputs wait for its ACKs. Off: no log,
    /// no backup, outputs leave at once (the baseline every FT result is compared with).
    public var faultTolerance = true
    public var profile = ChannelProfile.lan
    public var ackPolicy = AckPolicy.outputAware(batch: 64)
    /// Log ring slots (64 bytes each).
    public var logCapacity = 1 << 16
    /// Instructions per vCPU slice; one scheduling entry is logged per slice, and the primary
    /// polls ACKs between slices.
    public var quantum: UInt64 = 20_000
    /// Timeslice interleaving: a vCPU's slice also ends, early, once it has run this long in host
    /// time (checked every `TimeSlicer.checkInterval` instructions); each such switch is logged
    /// (`preempt`) and the backup switches at exactly the same instruction. Nil: round robin,
    /// where slices end by instruction count alone.
    public var timesliceNanos: UInt64?
    /// When the backup's backlog (what the primary executed that the backup has still to replay,
    /// in the primary's running time, less the link's one-way latency; about the backup's lag
    /// while the primary runs) exceeds this, the primary pauses until the backlog is back under
    /// half of it. Nil: `defaultLagSlackNanos` beyond the link's one-way latency (`lagBound`),
    /// and back under half the slack beyond it (`lagResume`).
    public var lagBoundNanos: UInt64?
    /// The default lag bound's allowance beyond the link's one-way latency, which a backup that
    /// keeps up shows as lag too (an entry is counted from when it was published). Equal
    /// interpreters replay no faster than they run, so without a bound near this the lag drifts:
    /// `compute`'s lag p99 on `lan` ran from 0.11 to 61.8 ms over 12 rounds with 100 ms
    /// (`compute-20261128T133209Z`, c123a3c) and from 1.45 to 4.75 ms with this default
    /// (`compute-20261128T154043Z`, 117b636; both in git history; docs/REPLICATION.md, "Flow
    /// control", has the current set).
    public static let defaultLagSlackNanos: UInt64 = 5_000_000
    /// The lag bound in force: `lagBoundNanos`, or the default for the link.
    public var lagBound: UInt64 { lagBoundNanos ?? profile.oneWayLatencyNanos + Self.defaultLagSlackNanos }
    /// The backlog under which a paused primary goes on. The default keeps the link's one-way latency
    /// out of the halving: halving it too made a slowed primary on `cross-city` wait until the
    /// entries in flight had arrived and been replayed, 5 ms or more per episode: `compute` on
    /// `cross-city` stalled its primary 8.6% of the time (median of 12 rounds of `scripts/reference.sh
    /// compute` at 8b3134a, not kept) against 2.5% with this (`compute-20261128T154043Z`, in git history).
    public var lagResume: UInt64 { lagBoundNanos.map { $0 / 2 } ?? lagBound - Self.defaultLagSlackNanos / 2 }
    public var wait = WaitStrategy.default
    /// CPUs for side A's host (the first primary) and side B's (the first backup); each side's
    /// thread may run on any CPU of its set (nil: not pinned).
    public var primaryCPUs: [Int]? = [0]
    public var backupCPUs: [Int]? = [1]
    /// NUMA nodes for side A's and side B's hosts: a side's guest memory, and the ring it reads
    /// (the log on a backup, the ACKs on a primary), are placed on its node. Nil: memory is not
    /// placed, and rings go to the node of the side's first CPU.
    public var primaryNode: Int?
    public var backupNode: Int?
    public var seed: UInt64 = 1
    /// The run ends this long after it starts (or when the guest halts).
    public var durationNanos: UInt64 = 2_000_000_000
    /// Measurements start after this much of the run.
    public var warmupNanos: UInt64 = 200_000_000
    /// Record every output release (its marker seq and release time) on the primary and every
    /// ACK (the seq it covers and its delivery time) on the backup, for `OutputRuleAudit`.
    public var traceOutputs = false
    /// Test-only breakage of one mechanism, for negative controls (see `Sabotage`).
    public var sabotage = Sabotage()
    /// Faults to inject (FT on only).
    public var faults: [Fault] = []
    /// Each side tells the other it is alive at least this often: the primary with a heartbeat
    /// entry when it has logged nothing for this long, the backup with an ACK (nil: derived
    /// from the profile, see `heartbeat`).
    public var heartbeatNanos: UInt64?
    /// A side that has heard nothing from the other for this long declares it failed (nil:
    /// derived from the profile, see `failureTimeout`).
    public var failureTimeoutNanos: UInt64?
    /// The arbiter's test-and-set round trip.
    public var arbiterLatencyNanos: UInt64 = 1_000_000
    /// Clients send a request again when it has gone unanswered this long (nil: twice the
    /// failure timeout).
    public var clientRetryNanos: UInt64?
    /// A primary without a backup starts a new one by state transfer this long after it went on
    /// alone, once a host is free (nil: never, redundancy stays lost).
    public var restoreAfterNanos: UInt64? = 0
    /// Free interleaving with FT on: how long after the primary's guest halted the backup's may
    /// still run before it is reported stalled (nil: a second, or the primary's time if longer).
    public var freeStallGraceNanos: UInt64?

    /// 10 ms (the paper's heartbeat period is of this order), or the channel's round trip if
    /// longer, so that a heartbeat is never outrun by the link itself.
    public var heartbeat: UInt64 { heartbeatNanos ?? max(10_000_000, profile.roundTripNanos) }
    /// Five heartbeats plus a round trip: a side declares the other failed only after missing
    /// several heartbeats, however slow the link.
    public var failureTimeout: UInt64 { failureTimeoutNanos ?? 5 * heartbeat + profile.roundTripNanos }
    public var clientRetry: UInt64 { clientRetryNanos ?? 2 * failureTimeout }

    public init() {}

    /// The CPUs a side's host runs on.
    public func cpus(of side: Side) -> [Int]? { side == .a ? primaryCPUs : backupCPUs }

    /// The NUMA node a side's guest memory is placed on (nil: not placed).
    public func memoryNode(of side: Side) -> Int? { side == .a ? primaryNode : backupNode }

    /// The NUMA node for a ring `side` reads: its node, else its first CPU's.
    public func ringNode(readBy side: Side) -> Int? {
        memoryNode(of: side) ?? cpus(of: side)?.first.flatMap { HostTopology.current().node(ofCPU: $0) }
    }
}

/// The simulated clients. Their requests and replies travel through a `ClientNetwork`, which
/// outlives either side: the live side drives it (on a 2-core machine the clients need no third
/// busy core), asking for requests whose intended send time has come when the guest can take
/// one, and handing it every reply it releases.
public protocol ClientLoad: SendableMetatype {
    /// Intended send time of the next new request, or nil if none is waiting to be sent.
    var nextIntendedTime: UInt64? { get }
    /// Writes the next new request into `buffer` (its intended time has come; `now` is when it
    /// is actually sent); returns its length and its sequence number.
    mutating func sendNext(into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> (length: Int, seq: UInt64)
    /// Writes request `seq` (sent before) again into `buffer`, for a retransmission; returns its length.
    func request(seq: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// The request sequence number a reply answers (the transport's header), if it has one.
    static func replySeq(_ reply: UnsafeRawBufferPointer) -> UInt64?
    /// The application receives `reply` at `now`; returns its latency from the intended send
    /// time if it was measured.
    mutating func receive(_ reply: UnsafeRawBufferPointer, now: UInt64) -> UInt64?
    /// Measurements start now (the end of warm-up); a second call does nothing.
    mutating func startMeasuring(now: UInt64)
    /// The measurement window ends now (the end of the run, before the final drain).
    mutating func stopMeasuring(now: UInt64)
    /// After the final drain: requests still unanswered are charged as the client sees them.
    mutating func chargeUnanswered(now: UInt64)
}
