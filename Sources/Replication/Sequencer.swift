import Atomics
import GuestVM
import Topology

/// The `recorded` interleaving's global order of synchronising instructions. A holder takes
/// the next ticket and performs its operation as one step, so the ticket order is the order in
/// which the operations took effect on memory. (A fetch-add for the ticket followed by a
/// separate atomic would not be: two vCPUs could take tickets 1 and 2 and perform 2 before 1.)
///
/// One word holds the order: `2t` while ticket `t` is next and nobody holds it, `2t + 1` while
/// its holder performs it.
/// - Recording: `acquire()` moves `2t` to `2t + 1` with a compare-exchange (acquiring: the holder
///   sees every earlier ticket's memory effects and log entries) and `release(t)` stores
///   `2t + 2` (releasing).
/// - Replay: the log names each ticket's vCPU, so there is never contention: `wait(for: t)`
///   loads until the word is `2t` (acquiring), and `advance(past: t)` stores `2t + 2`
///   (sequentially consistent), then wakes the vCPUs parked on their words. A waiter spins
///   `spins` times, then parks with Dekker's pattern: it stores 1 to its own futex word
///   (sequentially consistent) and re-reads the order word before sleeping; the advancing
///   side stores the order word before it reads the futex words, so one of them sees the other.
///   Each vCPU parks on a word of its own, so a wake-up meant for one cannot clear another's.
/// - `abandon()` sets a flag (releasing) and wakes every parked vCPU: waits then fail.
///
/// Storage: one allocation the instance owns (freed in `deinit`): the order word on its own
/// 128 bytes (two cache lines: the adjacent-line prefetcher pulls lines in pairs), the flag on
/// the next, then one futex word per vCPU, 128 bytes apart.
public final class Sequencer: @unchecked Sendable {
    private let memory: UnsafeMutableRawPointer
    private let order: UnsafeAtomic<UInt64>
    private let abandoned: UnsafeAtomic<UInt32>
    private let parked: [UnsafeAtomic<UInt32>]
    private let parkedWords: [UnsafeMutablePointer<UInt32>]
    /// Spins before a waiting vCPU parks.
    public let spins: Int
    /// How long a parked vCPU sleeps at most before it looks again (a safety net, and the
    /// granularity of the stall check; wake-ups come from `advance` and `abandon`).
    public let parkTimeoutNanos: UInt64

    public init(vcpus: Int, spins: Int = 1_000, parkTimeoutNanos: UInt64 = 10_000_000) {
        self.spins = spins
        self.parkTimeoutNanos = parkTimeoutNanos
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 256 + 128 * vcpus, alignment: 128)
        self.memory = memory
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: 256 + 128 * vcpus)
        order = UnsafeAtomic(at: memory.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: 1))
        abandoned = UnsafeAtomic(at: (memory + 128).bindMemory(to: UInt32.AtomicRepresentation.self, capacity: 1))
        // UInt32.AtomicRepresentation is a plain 32-bit word: the futex sees the same memory.
        parked = (0..<vcpus).map { UnsafeAtomic(at: (memory + 256 + 128 * $0).bindMemory(to: UInt32.AtomicRepresentation.self, capacity: 1)) }
        parkedWords = (0..<vcpus).map { (memory + 256 + 128 * $0).assumingMemoryBound(to: UInt32.self) }
    }

    deinit { memory.deallocate() }

    /// Tickets performed so far (the next ticket, once nobody holds one).
    public var performed: UInt64 { order.load(ordering: .acquiring) / 2 }

    /// Recording: takes the next ticket and holds the order until `release`.
    @inline(__always)
    public func acquire() -> UInt64 {
        var seen = order.load(ordering: .relaxed)
        var spins = 0
        while true {
            if seen & 1 == 0 {
                let (exchanged, original) = order.weakCompareExchange(expected: seen, desired: seen | 1,
                                                                      successOrdering: .acquiring, failureOrdering: .relaxed)
                if exchanged { return seen / 2 }
                seen = original
                continue
            }
            // Held by another vCPU for a few dozen nanoseconds, unless its thread was preempted.
            spins += 1
            if spins & 1023 == 0 { yieldCPU() } else { cpuRelax() }
            seen = order.load(ordering: .relaxed)
        }
    }

    /// Recording: ends the holder's step for `ticket`.
    @inline(__always)
    public func release(_ ticket: UInt64) {
        order.store(2 &* ticket &+ 2, ordering: .releasing)
    }

    public struct Abandoned: Error, CustomStringConvertible, Sendable {
        public var description: String { "the replay was abandoned (another vCPU stopped it)" }
    }

    public struct GaveUp: Error, CustomStringConvertible, Sendable {
        public var ticket: UInt64
        public var performed: UInt64
        public var description: String { "gave up waiting for ticket \(ticket): the order has stood at \(performed) since before its deadline" }
    }

    /// Replay: waits until every ticket before `ticket` has been performed, spinning, then
    /// parked on `vcpu`'s word; fails when abandoned, or gives up once `deadline` has passed and
    /// the order has not moved for `stallNanos` (a stalled replay). A replay that is merely slow
    /// (its threads hand the order to each other through the scheduler of a loaded host) goes
    /// on as long as the order moves.
    ///
    /// `meanwhile` runs every 256 spins and before every park: a replaying vCPU takes in and
    /// acknowledges its ring's entries there, since the primary may hold an output until this
    /// ring acknowledges entries behind the one waited for, and the ticket it waits for may
    /// come only after that output (a deadlock when the waiter acknowledged nothing).
    public func wait(for ticket: UInt64, vcpu: Int, deadline: FreeRun.Deadline, stallNanos: UInt64 = 1_000_000_000,
                     meanwhile: () throws -> Void = {}) throws {
        let wanted = 2 &* ticket
        for spin in 0..<spins {
            if order.load(ordering: .acquiring) == wanted { return }
            if abandoned.load(ordering: .relaxed) != 0 { break }  // the loop below throws
            if spin & 255 == 255 { try meanwhile() }
            cpuRelax()
        }
        var seen = order.load(ordering: .acquiring), movedAt = monotonicNanos()
        while true {
            let now = order.load(ordering: .acquiring)
            if now == wanted { return }
            if abandoned.load(ordering: .acquiring) != 0 { throw Abandoned() }
            if now != seen {
                seen = now
                movedAt = monotonicNanos()
            } else if deadline.hasPassed, monotonicNanos() &- movedAt >= stallNanos {
                throw GaveUp(ticket: ticket, performed: now / 2)
            }
            try meanwhile()
            parked[vcpu].store(1, ordering: .sequentiallyConsistent)
            if order.load(ordering: .sequentiallyConsistent) != wanted, abandoned.load(ordering: .sequentiallyConsistent) == 0 {
                Futex.wait(parkedWords[vcpu], expected: 1, timeoutNanos: parkTimeoutNanos)
            }
            parked[vcpu].store(0, ordering: .relaxed)
        }
    }

    /// Replay: `ticket` has been performed; wakes the vCPUs parked on the order.
    @inline(__always)
    public func advance(past ticket: UInt64) {
        order.store(2 &* ticket &+ 2, ordering: .sequentiallyConsistent)
        wakeParked()
    }

    /// Makes every wait fail from now on, and wakes the parked.
    public func abandon() {
        abandoned.store(1, ordering: .releasing)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        wakeParked()
    }

    @inline(__always)
    private func wakeParked() {
        for (flag, word) in zip(parked, parkedWords) where flag.load(ordering: .sequentiallyConsistent) == 1 {
            flag.store(0, ordering: .relaxed)
            Futex.wake(word)
        }
    }
}
