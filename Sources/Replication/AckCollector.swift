import LogChannel
import Synchronization

/// One vCPU channel's acknowledgements on the primary of the `recorded` interleaving, readable by
/// every vCPU thread: an output waits for the ACKs of every vCPU's ring (docs/REPLICATION.md,
/// "Several vCPUs"), and the vCPU that owns a ring may be deep in a run of the guest.
///
/// The channel's ACK receiver has one consumer at a time: whichever thread holds `token`
/// (taken with a compare-exchange, acquiring; given back with a store, releasing, so each holder
/// sees what the previous one did to the receiver's state). A thread that finds the token taken
/// skips: its holder is polling already. `acknowledged` is stored with releasing and read with
/// acquiring; ACKs are cumulative, so it only grows.
final class AckCollector: @unchecked Sendable {
    private let receiver: AckReceiver
    private let token = Atomic<Bool>(false)
    private let received = Atomic<UInt64>(0)
    /// ACKs taken off the ring (touched by the token's holder only; read after the run).
    private(set) var acksTaken = 0

    init(_ receiver: AckReceiver) { self.receiver = receiver }

    /// Every entry up to this seq is buffered at the backup.
    var acknowledged: UInt64 { received.load(ordering: .acquiring) }

    /// Takes every ACK that is due, unless another thread is doing so.
    func poll() {
        guard token.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        if let ack = receiver.poll(counting: &acksTaken), ack.received > received.load(ordering: .relaxed) {
            received.store(ack.received, ordering: .releasing)
        }
        token.store(false, ordering: .releasing)
    }
}
