@testable import Replication
import Testing
import Topology

@Suite("Arbiter")
struct ArbiterTests {
    @Test("a claim from the current epoch wins and moves it on; a second claim from the same epoch loses")
    func testAndSet() {
        let arbiter = Arbiter(latencyNanos: 0, faults: nil)
        #expect(arbiter.claim(by: .b, from: 1, owner: .a) == .won(epoch: 2))
        #expect(arbiter.claim(by: .a, from: 1, owner: .a) == .lost(epoch: 2, owner: .b))
        #expect(arbiter.current == (2, .b))
        // Repeated failovers: the owner of epoch 2 can be succeeded in epoch 3.
        #expect(arbiter.claim(by: .a, from: 2, owner: .b) == .won(epoch: 3))
    }

    /// Negative control of the test-and-set (`Sabotage.arbiterAlwaysGrants`): both claims win.
    @Test("negative control: without the test-and-set both claims from one epoch win")
    func sabotaged() {
        let arbiter = Arbiter(latencyNanos: 0, faults: nil, alwaysGrants: true)
        #expect(arbiter.claim(by: .b, from: 1, owner: .a) == .won(epoch: 2))
        #expect(arbiter.claim(by: .a, from: 1, owner: .a) == .won(epoch: 2))
    }

    @Test("a side cut from the arbiter learns nothing and changes nothing, and a claim takes the arbiter's latency")
    func unreachable() {
        let now = monotonicNanos()
        let faults = FaultSchedule([.arbiterPartition(at: .elapsed(nanos: 0), duration: 60_000_000_000, side: .a)], runStart: now)
        let arbiter = Arbiter(latencyNanos: 2_000_000, faults: faults)
        let started = monotonicNanos()
        #expect(arbiter.claim(by: .a, from: 1, owner: .a) == .unreachable)
        #expect(monotonicNanos() - started >= 2_000_000)
        #expect(arbiter.current == (1, .a))
        #expect(arbiter.claim(by: .b, from: 1, owner: .a) == .won(epoch: 2))
    }
}
