/// Lets a single-vCPU slice run several quanta when the primary knows nothing will be injected
/// before its end.
///
/// Round robin ends a slice every quantum (20,000 instructions by default, about 20 µs here) so
/// that events enter the guest at most that late; with one vCPU that is the quantum's only
/// purpose. Every slice end costs the primary a clock read, an ACK poll, a scheduling entry and a
/// flush, and the entry goes to a ring line that the backup's core has taken since the last one:
/// per 20,000 instructions of `compute` that was 2.25% of the primary's time with FT on against
/// 0.60% with it off (docs/REPLICATION.md, "Stretched slices").
///
/// The scheduling entry is already a promise to the backup that nothing is injected before its
/// end, and the backup runs to the logged end whatever the quantum, so replay stays exact. A
/// slice is stretched only where the caller found nothing that could be injected or released
/// sooner (`quietUntil`: no DMA buffer posted, no outputs held, no injection at this start, no
/// fault schedule, few entries in the last slice), and only so far that, at the instruction rate
/// of the last slice, it ends before the next deadline (the timer's next tick, the run's end).
struct SliceStretcher {
    /// At most this many quanta per slice: bounds how late an event the primary could not
    /// foresee (a DMA buffer the guest posts during the slice) and a release of the outputs the
    /// slice itself produces wait for the slice's end.
    static let maximumQuanta: UInt64 = 8
    /// A slice that logged more entries than this is followed by one of a quantum. Stretching
    /// pays where slices log next to nothing (`compute`: a scheduling entry, a tick now and then);
    /// a guest that logs on every few instructions (`nondet`) gains nothing from it, and its
    /// backup sees a slice's entries only when the slice ends (the flush), so a slice eight times
    /// as long would hand it eight times as many at once after waiting eight times as long.
    static let maximumEntries: UInt64 = 16

    /// The previous slice end: host time and instructions retired.
    private var previous: (now: UInt64, instructions: UInt64)?

    /// The end of the slice that starts at `count` (due to end at `quantumEnd`), at `now`, with
    /// `instructions` retired in all; `quietUntil` is the earliest deadline, or nil when the
    /// slice must end at its quantum.
    mutating func end(from count: UInt64, quantumEnd: UInt64, instructions: UInt64, now: UInt64, quietUntil deadline: UInt64?) -> UInt64 {
        defer { previous = (now, instructions) }
        guard let deadline, deadline > now, let previous, now > previous.now, instructions >= previous.instructions,
              quantumEnd > count, quantumEnd != .max else { return quantumEnd }
        let quantum = quantumEnd - count
        let perNano = Double(instructions - previous.instructions) / Double(now - previous.now)
        let reachable = Double(deadline - now) * perNano / Double(quantum)
        let quanta = reachable >= Double(Self.maximumQuanta) ? Self.maximumQuanta : UInt64(max(reachable, 1))
        let (length, tooLong) = quanta.multipliedReportingOverflow(by: quantum)
        let (end, overflow) = count.addingReportingOverflow(length)
        return tooLong || overflow ? quantumEnd : end
    }
}
