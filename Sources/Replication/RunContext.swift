import Topology

/// What both sides of one run share: its settings and clock, the client network, the arbiter and
/// the faults to inject. Immutable apart from the components' own synchronised state.
final class RunContext<Client: ClientLoad>: @unchecked Sendable {
    let options: ReplicationOptions
    let network: ClientNetwork<Client>
    let arbiter: Arbiter
    /// Hosts free to take a new backup, and every link made.
    let spares = SpareHosts()
    let faults: FaultSchedule?
    /// Only when a partition or latency spike is planned: the receive paths consult it then.
    let linkFaults: FaultSchedule?
    let start: UInt64
    let measureFrom: UInt64
    let endAt: UInt64

    /// The run starts once the network's tables (tens of megabytes) are allocated, so that
    /// their zeroing does not eat into the run.
    init(options: ReplicationOptions, client: Client) {
        self.options = options
        network = ClientNetwork(client: client, durationNanos: options.durationNanos, retryNanos: options.clientRetry,
                                dedup: !options.sabotage.noClientDedup, resend: !options.sabotage.noClientResend)
        let start = monotonicNanos()
        network.timeline.start = start
        self.start = start
        measureFrom = start + options.warmupNanos
        endAt = start + options.durationNanos
        let faults = options.faultTolerance && !options.faults.isEmpty ? FaultSchedule(options.faults, runStart: start, seed: options.seed) : nil
        self.faults = faults
        linkFaults = faults?.hasLinkFaults == true ? faults : nil
        arbiter = Arbiter(latencyNanos: options.arbiterLatencyNanos, faults: faults, alwaysGrants: options.sabotage.arbiterAlwaysGrants)
    }
}

/// A change of a side's role, with its time: what faults.csv is built from. Roles follow the
/// state machine backup -> candidate -> primary (alone, with no backup), primary -> candidate
/// -> primary alone; a candidate that loses the arbiter halts; a crash ends any role.
public struct RoleEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// The side stopped, as a process that died (an injected crash).
        case crashed
        /// It heard nothing from the other side for the failure timeout.
        case detected
        /// The arbiter could not be reached; the side stays as it is and tries again.
        case arbiterUnreachable = "arbiter-unreachable"
        /// It won the arbiter and went live alone: a backup took over the clients' address, or
        /// a primary went on without its backup.
        case live
        /// It lost the arbiter and halted.
        case halted
        /// A primary's new backup holds its state (a state transfer completed): redundancy is
        /// restored.
        case restored
    }

    public var side: Side
    public var kind: Kind
    public var at: UInt64
    /// The epoch after the event (for `live`, the one it won).
    public var epoch: UInt64
    /// For `detected`: when it last heard from the other side.
    public var lastHeard: UInt64?
}

/// What a fault-tolerant run saw of failures: the faults and when they struck, every role change
/// of either side, and what the clients saw (faults.csv and timeline.csv are built from it).
public struct FailoverReport: @unchecked Sendable {
    public var faults: [Fault]
    /// When each fault struck (absolute monotonic nanoseconds), if it did.
    public var faultTimes: [UInt64?]
    public var runStart: UInt64
    public var events: [RoleEvent]
    /// The side serving at the end (nil: neither).
    public var survivor: Side?
    public var finalEpoch: UInt64
    /// The new primary's state hash when it went live (when asked for).
    public var goLiveStateHash: UInt64?
    /// Epochs in which two different sides sent replies: must be empty.
    public var epochsWithTwoOwners: [UInt64]
    /// Replies from a side after a newer epoch was claimed (released on ACKs it had before).
    public var staleReplies: Int
    /// Replies the clients accepted that the survivor's history does not contain: must be 0.
    public var outputsLost: Int
    /// Requests sent (longer than the retry timeout and 10 ms before the end) and never answered.
    public var requestsUnanswered: Int
    public var duplicatesDropped: Int
    public var retransmissions: Int
    /// Outputs the new primary sent again at go-live (over every failover).
    public var outputsResent: Int
    /// Every state transfer a primary started, in order.
    public var transfers: [TransferRecord]
    /// Gaps of more than 1 ms between consecutive replies the clients accepted.
    public var gaps: [(from: UInt64, to: UInt64)]
    public var heartbeatNanos: UInt64
    public var failureTimeoutNanos: UInt64
    public var timeline: Timeline

    /// The gap between accepted replies that spans `t`: the client-visible outage around it.
    public func outage(around t: UInt64) -> (from: UInt64, to: UInt64)? {
        gaps.first { $0.from <= t && t <= $0.to }
    }
}
