import Dispatch
import Testing
import Topology
@testable import GuestVM

/// Litmus tests of the guest memory model (docs/ISA.md, "Memory model") on two vCPUs running in
/// parallel (`FreeRun`). Each runs up to 50,000 iterations, or 3 s, whichever ends first: both
/// vCPUs meet at a barrier, run their few instructions on fresh locations, and record what they
/// read; the host counts the outcomes.
///
/// A forbidden outcome seen fails the test. A test whose own positive control (a variant whose
/// relaxed outcome this host can produce) never showed it, in up to three budgets, is
/// inconclusive, not passed: it is
/// recorded as a known issue ("inconclusive"), which happens when the two threads never truly ran
/// at once (a starved or single-core host).
@Suite("Litmus", .serialized)
struct LitmusTests {
    struct Outcomes {
        var iterations = 0
        /// Count of each (first read, second read) pair.
        var counts: [Pair: Int] = [:]
        func count(_ a: UInt64, _ b: UInt64) -> Int { counts[Pair(a: a, b: b), default: 0] }
    }

    struct Pair: Hashable { var a: UInt64, b: UInt64 }

    static let iterations = 50_000
    static let budgetNanos: UInt64 = 3_000_000_000

    /// Runs a litmus body: `thread0` and `thread1` are the two vCPUs' instructions, with r5 the
    /// address of this iteration's x, r6 of its y, r9 = 1, r2, r3 and r7 free; each leaves what
    /// it read in r8, which becomes the outcome's `a` (vCPU 0) or `b` (vCPU 1).
    static func run(thread0: String, thread1: String) throws -> Outcomes {
        let source = """
            .vcpus 2
            .memory 8388608
            .const ITER = \(iterations)
            .data
            .align 64
            go:   .u64 0
            .align 64
            stop: .u64 0
            .align 64
            done0: .u64 0
            .align 64
            done1: .u64 0
            .align 64
            xs:  .zero ITER * 8
            .align 64
            ys:  .zero ITER * 8
            .align 64
            out0: .zero ITER * 8
            .align 64
            out1: .zero ITER * 8
            .text
            start:
                li r10, 0
                li r11, go
                li r9, 1
            .loop:
                xadd r2, [r11], r9
                addi r3, r10, 1
                shli r3, r3, 1          ; both vCPUs at iteration i: go reaches 2(i+1)
            .spin:
                ldacq r2, [r11]
                bgeu r2, r3, .body
                li r2, stop
                ldacq r2, [r2]
                bnei r2, 0, .end
                jmp .spin
            .body:
                shli r4, r10, 3
                li r5, xs
                add r5, r5, r4
                li r6, ys
                add r6, r6, r4
                bnei r0, 0, .cpu1
            \(thread0)
                li r2, out0
                add r2, r2, r4
                st64 [r2], r8
                jmp .next
            .cpu1:
            \(thread1)
                li r2, out1
                add r2, r2, r4
                st64 [r2], r8
            .next:
                addi r10, r10, 1
                li r2, ITER
                bltu r10, r2, .loop
            .end:
                li r2, done0
                shli r3, r0, 6
                add r2, r2, r3
                strel [r2], r10
                halt
            """
        let program = try assemble(source)
        let machine = try Machine(program: program, vcpus: 2)
        let stop = try address(of: "stop", in: program)
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let memory = machine.memory  // only `publish`, an atomic store, from the timer
        let timer = PinnedThread(cpu: nil) {
            if finished.wait(timeout: .now() + .nanoseconds(Int(budgetNanos))) == .timedOut { memory.publish(1, at: stop) }
        }
        let summary = try FreeRun.run(machine, seed: 1)
        finished.signal()
        timer.join()
        #expect(summary.firstFault == nil)
        let done = min(machine.memory.load64(at: try address(of: "done0", in: program))!,
                       machine.memory.load64(at: try address(of: "done1", in: program))!)
        let out0 = try address(of: "out0", in: program), out1 = try address(of: "out1", in: program)
        var outcomes = Outcomes(iterations: Int(done))
        for i in 0..<UInt64(done) {
            outcomes.counts[Pair(a: machine.memory.load64(at: out0 + i * 8)!, b: machine.memory.load64(at: out1 + i * 8)!), default: 0] += 1
        }
        return outcomes
    }

    /// Store buffering: each vCPU stores 1 to its own location, then reads the other's. The
    /// unfenced variant has a `nop` where the fence goes, so that both take the same number of
    /// dispatches between store and load (an extra dispatch alone leaves the store buffer time
    /// to drain, and the fence's effect would be confounded with it).
    static func storeBuffering(fenced: Bool) throws -> Outcomes {
        let fence = fenced ? "    fence" : "    nop"
        return try run(thread0: "    st64 [r5], r9\n\(fence)\n    ld64 r8, [r6]",
                       thread1: "    st64 [r6], r9\n\(fence)\n    ld64 r8, [r5]")
    }

    /// Runs a positive control up to three times, until it shows what it looks for: under the
    /// full test suite the two vCPU threads often share one CPU for a whole budget.
    static func control(_ run: () throws -> Outcomes, shows: (Outcomes) -> Bool) rethrows -> Outcomes {
        var outcomes = try run()
        for _ in 1..<3 where !shows(outcomes) { outcomes = try run() }
        return outcomes
    }

    /// Records "inconclusive" without failing: the host gave the test no chance to see what it
    /// looks for.
    static func inconclusive(_ why: String) {
        withKnownIssue("inconclusive", isIntermittent: true) { Issue.record(Comment(rawValue: "inconclusive: \(why)")) }
    }

    /// Positive control: on x86 (TSO) a store may wait in the store buffer while the later load
    /// completes, so both vCPUs can read 0. It must show within the budget, or the test says
    /// "inconclusive".
    @Test("store buffering without fences: both reads 0, the relaxed outcome, shows")
    func storeBufferingRelaxed() throws {
        let o = try Self.control({ try Self.storeBuffering(fenced: false) }, shows: { $0.count(0, 0) > 0 })
        #expect(o.iterations > 0)
        if o.count(0, 0) == 0 { Self.inconclusive("in \(o.iterations) iterations (\(o.counts)) the relaxed outcome never showed") }
    }

    /// With `fence` between each store and load (MFENCE), both reads 0 is forbidden. The unfenced
    /// variant runs first as the positive control: if even it never showed the relaxed outcome,
    /// the fenced result proves nothing and the test is inconclusive.
    @Test("store buffering with fences: both reads 0 never shows")
    func storeBufferingFenced() throws {
        let control = try Self.control({ try Self.storeBuffering(fenced: false) }, shows: { $0.count(0, 0) > 0 })
        let o = try Self.storeBuffering(fenced: true)
        #expect(o.iterations > 0)
        #expect(o.count(0, 0) == 0, "fenced store buffering read (0, 0) in \(o.count(0, 0)) of \(o.iterations) iterations")
        if control.count(0, 0) == 0 { Self.inconclusive("the unfenced control never showed (0, 0) in \(control.iterations) iterations") }
    }

    /// Message passing: vCPU 0 writes data then sets a flag with `strel`; vCPU 1 reads the flag
    /// with `ldacq`, then the data. Flag 1 with data 0 is forbidden. x86 forbids it even for plain
    /// accesses, so this guards the implementation (nothing may reorder the handlers) rather than
    /// the host. Positive control: vCPU 1 reads the data first, then the flag, where flag 1 with
    /// data 0 is allowed (vCPU 0 ran between the reads) and must show, or the test is inconclusive.
    @Test("message passing with release and acquire: flag set but data unseen never shows")
    func messagePassing() throws {
        let writer = "    st64 [r5], r9\n    strel [r6], r9\n    li r8, 0"
        // vCPU 1 leaves flag * 2 + data in r8: 2 is "flag set, data unseen".
        let reader = "    ldacq r7, [r6]\n    ld64 r8, [r5]\n    shli r7, r7, 1\n    add r8, r8, r7"
        let control = try Self.control({ try Self.run(thread0: writer, thread1: "    ld64 r8, [r5]\n    ldacq r7, [r6]\n    shli r7, r7, 1\n    add r8, r8, r7") },
                                       shows: { $0.count(0, 2) > 0 })
        let o = try Self.run(thread0: writer, thread1: reader)
        #expect(o.iterations > 0)
        #expect(o.count(0, 2) == 0, "flag set, data unseen in \(o.count(0, 2)) of \(o.iterations) iterations: \(o.counts)")
        if control.count(0, 2) == 0 { Self.inconclusive("the data-first control never saw flag set with data unseen in \(control.iterations) iterations (\(control.counts))") }
    }
}
