import LogChannel

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
    /// When the backup's execution lags the primary by more than this, the primary is slowed
    /// until the lag is back under half of it (VMware FT keeps it under ~100 ms).
    public var lagBoundNanos: UInt64 = 100_000_000
    public var wait = WaitStrategy.default
    /// NUMA node for the log and ACK rings (nil: the backup CPU's node, where the log is read).
    public var ringNode: Int?
    /// CPUs for the primary and the backup threads (nil: not pinned).
    public var primaryCPU: Int? = 0
    public var backupCPU: Int? = 1
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

    public init() {}
}

/// The simulated clients, living inside the primary's device emulation (so that on a 2-core
/// machine they need no third busy core): the primary asks for requests whose intended send
/// time has come when the guest can take one, and hands the client every reply it releases.
public protocol ClientLoad: SendableMetatype {
    /// Intended send time of the next request, or nil if no request is waiting to be sent.
    var nextIntendedTime: UInt64? { get }
    /// Writes the next request into `buffer` (its intended time has come; `now` is when it is
    /// actually sent); returns its length.
    mutating func sendNext(into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> Int
    /// The primary released `reply` at `now`.
    mutating func receive(_ reply: UnsafeRawBufferPointer, now: UInt64)
    /// Measurements start now (the end of warm-up).
    mutating func startMeasuring(now: UInt64)
    /// The measurement window ends now (the end of the run, before the final drain).
    mutating func stopMeasuring(now: UInt64)
    /// After the final drain: requests still unanswered are charged as the client sees them.
    mutating func chargeUnanswered(now: UInt64)
}
