import Synchronization
import Topology

/// Split-brain arbitration, as VMware FT does it with an atomic test-and-set on shared storage
/// (section 2.3 of the paper): before a side goes live it must win a claim on (epoch, owner).
/// A claim from epoch e succeeds only if nobody has claimed since e, and moves the epoch to
/// e + 1 with the claimant as owner, so repeated failovers work and two live owners in one epoch
/// cannot both have won. A claim takes the arbiter's round trip; a side the arbiter cannot be
/// reached from (an arbiter partition) waits that long and learns nothing.
///
/// Memory ordering: the state is one word, (epoch << 8 | owner), changed only by compare-exchange
/// with acquiring-and-releasing ordering, so the claims form one total order and a winner's
/// decision is visible to every later claim; nothing else is published through it.
public final class Arbiter: Sendable {
    private let state: Atomic<UInt64>
    public let latencyNanos: UInt64
    private let faults: FaultSchedule?
    /// `Sabotage.arbiterAlwaysGrants`: every claim wins (the test-and-set is gone).
    private let alwaysGrants: Bool

    public enum Claim: Equatable, Sendable {
        case won(epoch: UInt64)
        /// Someone claimed since: the current (epoch, owner).
        case lost(epoch: UInt64, owner: Side)
        case unreachable
    }

    /// Starts at epoch 1, owned by side A (the first primary).
    init(latencyNanos: UInt64, faults: FaultSchedule?, alwaysGrants: Bool = false) {
        state = Atomic(Self.pack(epoch: 1, owner: .a))
        self.latencyNanos = latencyNanos
        self.faults = faults
        self.alwaysGrants = alwaysGrants
    }

    private static func pack(epoch: UInt64, owner: Side) -> UInt64 { epoch << 8 | UInt64(owner.rawValue) }

    public var current: (epoch: UInt64, owner: Side) {
        let word = state.load(ordering: .acquiring)
        return (word >> 8, Side(rawValue: Int(word & 0xFF))!)
    }

    /// `side`, which knows (`epoch`, `owner`) as the latest ownership, claims the next epoch.
    func claim(by side: Side, from epoch: UInt64, owner: Side) -> Claim {
        guard faults?.arbiterReachable(from: side, at: monotonicNanos()) ?? true else {
            sleepNanos(latencyNanos)
            return .unreachable
        }
        sleepNanos(latencyNanos / 2)
        let result: Claim
        if alwaysGrants {
            state.store(Self.pack(epoch: epoch + 1, owner: side), ordering: .releasing)
            result = .won(epoch: epoch + 1)
        } else {
            let (exchanged, found) = state.compareExchange(
                expected: Self.pack(epoch: epoch, owner: owner), desired: Self.pack(epoch: epoch + 1, owner: side),
                ordering: .acquiringAndReleasing)
            result = exchanged ? .won(epoch: epoch + 1) : .lost(epoch: found >> 8, owner: Side(rawValue: Int(found & 0xFF))!)
        }
        sleepNanos(latencyNanos - latencyNanos / 2)
        return result
    }
}
