import GuestVM
@testable import Replication
import Synchronization
import Testing
import Topology

/// The ticket order of the recorded interleaving: mutual exclusion and a dense order when
/// recording; waiting, parking, waking, abandoning and giving up when replaying.
@Suite("Sequencer")
struct SequencerTests {
    /// A plain (non-atomic) counter, touched only inside a ticket's step.
    final class Unprotected: @unchecked Sendable {
        var count = 0
        var tickets: [UInt64] = []
    }

    /// Both threads start together (a barrier), so that their steps contend from the first.
    @Test("recording: two threads' steps never overlap, and the tickets are 0, 1, 2, ... each once")
    func mutualExclusion() {
        let sequencer = Sequencer(vcpus: 2)
        let shared = Unprotected()
        shared.tickets.reserveCapacity(1_000_000)
        let rounds = 500_000
        let ready = Atomic<Int>(0)
        let threads = (0..<2).map { _ in
            PinnedThread(cpus: nil) {
                ready.add(1, ordering: .acquiringAndReleasing)
                while ready.load(ordering: .acquiring) < 2 { cpuRelax() }
                for _ in 0..<rounds {
                    let ticket = sequencer.acquire()
                    shared.count += 1
                    shared.tickets.append(ticket)
                    sequencer.release(ticket)
                }
            }
        }
        threads.forEach { $0.join() }
        #expect(shared.count == 2 * rounds)
        #expect(shared.tickets.elementsEqual(0..<UInt64(2 * rounds)), "tickets out of order, repeated or missing")
        #expect(sequencer.performed == UInt64(2 * rounds))
    }

    @Test("replay: a parked waiter wakes when the ticket before its own is performed")
    func parkedWaiterWakes() throws {
        // A park timeout of 20 s: only a wake-up from `advance` ends the wait in time.
        let sequencer = Sequencer(vcpus: 2, spins: 10, parkTimeoutNanos: 20_000_000_000)
        let woke = Atomic<UInt64>(0)
        let waiter = PinnedThread(cpus: nil) {
            try? sequencer.wait(for: 1, vcpu: 1, deadline: FreeRun.Deadline())
            woke.store(monotonicNanos(), ordering: .releasing)
        }
        let advancedAt = monotonicNanos() + 50_000_000
        while monotonicNanos() < advancedAt { yieldCPU() }
        #expect(woke.load(ordering: .acquiring) == 0, "the waiter went on before ticket 0 was performed")
        try sequencer.wait(for: 0, vcpu: 0, deadline: FreeRun.Deadline())
        sequencer.advance(past: 0)
        waiter.join()
        let latency = woke.load(ordering: .acquiring) &- advancedAt
        #expect(latency < 5_000_000_000, "woke \(latency) ns after the advance: not by it")
    }

    @Test("replay: abandoning wakes a parked waiter, which fails")
    func abandonWakes() {
        let sequencer = Sequencer(vcpus: 1, spins: 10, parkTimeoutNanos: 20_000_000_000)
        let outcome = Mutex<(any Error)?>(nil)
        let waiter = PinnedThread(cpus: nil) {
            do { try sequencer.wait(for: 3, vcpu: 0, deadline: FreeRun.Deadline()) } catch { outcome.withLock { $0 = error } }
        }
        let until = monotonicNanos() + 20_000_000
        while monotonicNanos() < until { yieldCPU() }
        sequencer.abandon()
        waiter.join()
        #expect(outcome.withLock { $0 } is Sequencer.Abandoned)
    }

    @Test("replay: past its deadline, a waiter gives up once the order has stood still for the stall time, not before")
    func givesUpWhenStalled() {
        let sequencer = Sequencer(vcpus: 1, spins: 10)
        let started = monotonicNanos()
        #expect(throws: Sequencer.GaveUp.self) {
            try sequencer.wait(for: 1, vcpu: 0, deadline: FreeRun.Deadline(started), stallNanos: 100_000_000)
        }
        #expect(monotonicNanos() - started >= 100_000_000)
    }
}
