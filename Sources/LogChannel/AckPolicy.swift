/// When the backup acknowledges the log entries it has received and buffered. ACKs are
/// cumulative, so any policy may skip entries: one ACK covers everything before it.
public enum AckPolicy: Equatable, Sendable, CustomStringConvertible {
    /// After every entry.
    case everyEntry
    /// After every `n` entries.
    case everyN(Int)
    /// Once the oldest unacknowledged entry has waited this many nanoseconds.
    case interval(nanos: UInt64)
    /// At once for an entry marked as preceding an output (so the output rule releases it
    /// quickly), otherwise after every `batch` entries.
    case outputAware(batch: Int)

    public var description: String {
        switch self {
        case .everyEntry: "every"
        case .everyN(let n): "every:\(n)"
        case .interval(let nanos): "interval:\(ChannelProfile.compact(nanos: nanos))"
        case .outputAware(let batch): "output-aware:\(batch)"
        }
    }

    /// `every`, `every:N`, `interval:DURATION` (e.g. `interval:100us`), `output-aware` or
    /// `output-aware:N`.
    public static func parse(_ text: String) throws(ProfileError) -> AckPolicy {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        func count(_ s: String) throws(ProfileError) -> Int {
            guard let n = Int(s), n >= 1 else { throw ProfileError("ACK batch '\(s)' must be a whole number >= 1") }
            return n
        }
        switch (parts.first ?? "", parts.count) {
        case ("every", 1): return .everyEntry
        case ("every", 2): return .everyN(try count(parts[1]))
        case ("output-aware", 1): return .outputAware(batch: 64)
        case ("output-aware", 2): return .outputAware(batch: try count(parts[1]))
        case ("interval", 2):
            guard let nanos = ChannelProfile.parseDuration(parts[1]), nanos >= 1_000, nanos <= 10_000_000_000 else {
                throw ProfileError("ACK interval '\(parts[1])' is not a duration from 1us to 10s")
            }
            return .interval(nanos: nanos)
        default:
            throw ProfileError("unknown ACK policy '\(text)': use every, every:N, interval:100us, output-aware or output-aware:N")
        }
    }
}

/// Applies an `AckPolicy` on the backup: told of every entry received, it says when to send a
/// cumulative ACK and up to which sequence number. Pure bookkeeping: the caller owns the clock
/// and the sending.
public struct AckBatcher: Sendable {
    public let policy: AckPolicy
    private var lastReceived: UInt64?
    private var unacknowledged = 0
    private var oldestUnacknowledgedAt: UInt64 = 0

    public init(policy: AckPolicy) { self.policy = policy }

    /// Records an entry received (and buffered) at `now`; returns the sequence number to
    /// acknowledge now, if the policy says so.
    public mutating func received(seq: UInt64, flags: LogEntryFlags, now: UInt64) -> UInt64? {
        lastReceived = seq
        if unacknowledged == 0 { oldestUnacknowledgedAt = now }
        unacknowledged += 1
        let ackNow: Bool
        switch policy {
        case .everyEntry: ackNow = true
        case .everyN(let n): ackNow = unacknowledged >= n
        case .interval: ackNow = due(at: now)
        case .outputAware(let batch): ackNow = flags.contains(.precedesOutput) || unacknowledged >= batch
        }
        return ackNow || flags.contains(.acknowledgeNow) ? acknowledge() : nil
    }

    /// For a time-based policy, called while no entries arrive: the sequence number to
    /// acknowledge if the oldest unacknowledged entry has waited long enough.
    public mutating func timerFired(now: UInt64) -> UInt64? {
        guard case .interval = policy, unacknowledged > 0, due(at: now) else { return nil }
        return acknowledge()
    }

    /// When a time-based ACK falls due, if one is pending.
    public var nextDeadline: UInt64? {
        guard case .interval(let nanos) = policy, unacknowledged > 0 else { return nil }
        return oldestUnacknowledgedAt + nanos
    }

    /// Everything received so far is acknowledged from now on (e.g. at the end of a run).
    public mutating func flush() -> UInt64? {
        unacknowledged > 0 ? acknowledge() : nil
    }

    private func due(at now: UInt64) -> Bool {
        guard case .interval(let nanos) = policy else { return false }
        return now >= oldestUnacknowledgedAt + nanos
    }

    private mutating func acknowledge() -> UInt64? {
        unacknowledged = 0
        return lastReceived
    }
}
