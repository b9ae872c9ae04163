import Topology

/// The primary's side of timeslice interleaving: decides, from host time, where a running slice
/// ends early, as a preemptive scheduler's timer would. The decision is made every
/// `checkInterval` instructions of a slice (the interpreter cannot be stopped from outside at an
/// arbitrary instruction, and a clock read per instruction would cost more than the guest), so
/// a switch lands within 4,096 instructions (a few microseconds) of the slice's expiry. Where it
/// lands depends on how fast the host ran the slice: that is the non-determinism this mode
/// measures, and why each switch is logged.
struct TimeSlicer {
    /// Instructions between clock reads: a read costs ~25 ns, 4,096 instructions ~6 µs, so the
    /// checks cost well under 1% of the guest.
    static let checkInterval: UInt64 = 4_096

    let sliceNanos: UInt64
    private var sliceStartedAt: UInt64 = 0
    private var nextCheck: UInt64 = 0

    init(sliceNanos: UInt64) { self.sliceNanos = sliceNanos }

    /// A slice starts at `count`.
    mutating func start(count: UInt64, now: UInt64) {
        sliceStartedAt = now
        nextCheck = count + Self.checkInterval
    }

    /// Where the slice, at `count`, may run to before the next check; `count` when its time is
    /// up (the caller logs the switch).
    mutating func limit(count: UInt64, end: UInt64) -> UInt64 {
        guard count >= nextCheck else { return min(end, nextCheck) }
        if monotonicNanos() - sliceStartedAt >= sliceNanos { return count }
        nextCheck = count + Self.checkInterval
        return min(end, nextCheck)
    }
}
