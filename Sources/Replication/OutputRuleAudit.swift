/// Checks the output rule from outside the mechanism that enforces it: every output must leave
/// the primary at or after the delivery, to the primary, of an ACK that the backup actually sent
/// and that covers the output's marker.
///
/// The ACKs come from the backup's side (what it sent, with the emulated delivery time the
/// channel stamped on each), the releases from the primary's side (each output's marker seq and
/// the clock read at the moment it was handed to the client). Both clocks are the same host's
/// monotonic clock. The primary's own bookkeeping (which ACK it believed released what) is not
/// consulted, so a primary that miscounts is caught.
public struct OutputRuleAudit: Sendable {
    /// One output that left too early.
    public struct Violation: Equatable, Sendable, CustomStringConvertible {
        /// The seq of the output's marker.
        public var tag: UInt64
        public var releasedAt: UInt64
        /// When the first covering ACK reached the primary (nil: no ACK ever covered it).
        public var coveredAt: UInt64?

        public var description: String {
            if let coveredAt {
                return "output after entry #\(tag) left \(coveredAt - releasedAt) ns before the ACK covering it arrived"
            }
            return "output after entry #\(tag) left, and no ACK the backup sent ever covered it"
        }
    }

    public var violations: [Violation] = []
    public var outputsChecked = 0

    /// - Parameters:
    ///   - releases: each released output's marker seq and release time.
    ///   - acks: every ACK the backup sent, in order: the seq it acknowledged and its delivery time.
    public init(releases: [(tag: UInt64, releasedAt: UInt64)], acks: [(received: UInt64, deliveredAt: UInt64)]) {
        // The earliest delivery of an ACK covering each seq: ACKs are cumulative, so keep the
        // running maximum of `received` and, for a release, find the first ACK reaching its tag.
        var reach: [UInt64] = []
        var deliveries: [UInt64] = []
        for ack in acks {
            let covered = max(reach.last ?? 0, ack.received)
            let delivered = max(deliveries.last ?? 0, ack.deliveredAt)
            reach.append(covered)
            deliveries.append(delivered)
        }
        for release in releases {
            outputsChecked += 1
            var low = 0, high = reach.count
            while low < high {
                let middle = (low + high) / 2
                if reach[middle] >= release.tag { high = middle } else { low = middle + 1 }
            }
            let coveredAt = low < reach.count ? deliveries[low] : nil
            if coveredAt.map({ $0 > release.releasedAt }) ?? true {
                violations.append(Violation(tag: release.tag, releasedAt: release.releasedAt, coveredAt: coveredAt))
            }
        }
    }
}
