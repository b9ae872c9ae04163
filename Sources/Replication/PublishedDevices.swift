import GuestVM
import Synchronization

/// The machine's device registers as the vCPU threads of a `recorded` primary see them: the
/// timer's period and the vCPU it ticks on, and the vCPU whose receive buffer is posted.
///
/// Contract: `publish` is called only inside a ticket's step, right after a step that changed
/// the registers (a `settimer`, a `dmapost`, a DMA delivery), with `Machine.devices`, which
/// only such steps write; so the published values are always those of the last completed step.
/// Any vCPU thread reads them between steps, to decide whether a timer tick is due on its own
/// vCPU or whether a request may be delivered into a buffer its vCPU posted. A DMA delivery
/// checks the registers again inside its own ticket, so a reader acting on a value that has
/// just changed is a race with a host event (which the log records), never with the guest.
/// Orderings: stores releasing, loads acquiring, so a reader that sees a value also sees the
/// step that wrote it.
final class PublishedDevices: Sendable {
    /// The timer's period in microseconds, shifted left by 8, or'ed with its vCPU (< 64).
    private let timer = Atomic<UInt64>(0)
    /// The vCPU that posted the receive buffer, or -1 when none is posted.
    private let dmaPoster = Atomic<Int>(-1)

    /// The largest period the packing holds (about 2,284 years).
    private static let maxPeriod: UInt64 = (1 << 56) - 1

    func publish(_ devices: DeviceState) {
        timer.store(min(devices.timerPeriodMicros, Self.maxPeriod) << 8 | UInt64(devices.timerVCPU), ordering: .releasing)
        dmaPoster.store(devices.dmaBuffer?.vcpu ?? -1, ordering: .releasing)
    }

    /// The timer's period if it ticks on `vcpu`, else 0.
    func timerPeriod(on vcpu: Int) -> UInt64 {
        let word = timer.load(ordering: .acquiring)
        return word & 0xFF == UInt64(vcpu) ? word >> 8 : 0
    }

    /// Whether the posted receive buffer is `vcpu`'s.
    func hasBuffer(postedBy vcpu: Int) -> Bool { dmaPoster.load(ordering: .acquiring) == vcpu }
}

/// The clients of a `recorded` run as its primary's vCPU threads see them: the next request for
/// the DMA device, and each reply once the output rule lets it leave. Thread-safe: every vCPU
/// thread calls it (`ClientNetwork` takes its lock once per request and once per reply).
protocol RecordedClients: AnyObject, Sendable {
    /// Copies the request due at `now` into `buffer` and returns its length; or returns nil
    /// and when to ask again at the latest.
    func takeRequest(into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> (length: Int?, askAgainAt: UInt64)
    func deliver(reply: UnsafeRawBufferPointer, now: UInt64)
}

/// A recorded run has one primary (side a, epoch 1), with no failover.
extension ClientNetwork: RecordedClients {
    func takeRequest(into buffer: UnsafeMutableRawBufferPointer, now: UInt64) -> (length: Int?, askAgainAt: UInt64) {
        switch takeRequest(for: .a, epoch: 1, into: buffer, now: now) {
        case .taken(let length, _): (length, now)
        case .notYet(let due): (nil, min(due ?? .max, now &+ PrimaryDriver<Client>.ownershipRecheck))
        }
    }

    func deliver(reply: UnsafeRawBufferPointer, now: UInt64) {
        deliver(reply, from: .a, epoch: 1, now: now)
    }
}
