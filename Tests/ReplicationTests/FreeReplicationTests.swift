@testable import GuestVM
@testable import Replication
import Testing
import Topology

/// The free interleaving with FT on: the backup runs its own parallel execution, nothing is
/// recorded, and what differs is reported (outputs first, then final memory), or a backup that
/// cannot finish is reported stalled within a bounded time.
@Suite("Free interleaving, replicated", .serialized)
struct FreeReplicationTests {
    static func options(seed: UInt64 = 1, duration: UInt64 = 2_000_000_000) -> ReplicationOptions {
        var o = ReplicationOptions()
        o.seed = seed
        o.durationNanos = duration
        o.warmupNanos = 0
        o.primaryCPUs = nil
        o.backupCPUs = nil
        return o
    }

    /// Data-race-free guests end with the same outputs and memory on both sides, though nothing
    /// kept them in step (their vCPUs' instruction counts differ).
    @Test("data-race-free guests agree without a log", arguments: ["partitioned", "lock-heavy", "shared-counter"])
    func dataRaceFree(workload: String) throws {
        let report = try FreeReplication.run(program: try testProgram(workload), vcpus: 2, options: Self.options())
        #expect(report.failure == nil && report.stalled == nil, "\(report.failure ?? report.stalled ?? "")")
        #expect(report.divergence == nil, "\(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.workNanos != nil && report.outputs == report.backupOutputsChecked && report.outputs > 0)
    }

    /// The racy counter loses different increments on each side when their vCPUs truly overlap,
    /// and the run reports the differing output. Whether they overlap is up to the host: a
    /// host that gave each vCPU a whole time slice to itself in every one of five runs makes
    /// the test inconclusive (a known issue), never a pass.
    @Test("the racy counter's sides disagree, and the run says where")
    func racyCounter() throws {
        let program = try Assembler.assemble(try #require(BuiltinPrograms.named("racy-counter")).source, file: "racy-counter")
        var diverged = 0
        for seed in 1...5 as ClosedRange<UInt64> {
            let report = try FreeReplication.run(program: program, vcpus: 2, options: Self.options(seed: seed, duration: 10_000_000_000))
            #expect(report.failure == nil && report.stalled == nil)
            if let divergence = report.divergence {
                diverged += 1
                #expect(divergence.reason.contains("output 1 of vCPU 0 differs"), "\(divergence)")
            }
        }
        if diverged == 0 {
            withKnownIssue("inconclusive", isIntermittent: true) { Issue.record("inconclusive: no run of five had its vCPUs overlap") }
        }
    }

    /// A guest whose vCPU 0 halts on an even clock reading and spins forever on an odd one: the
    /// two sides read different clocks, so sooner or later the primary halts while the backup
    /// spins. The backup gives up the grace period after the primary ended, and the report says
    /// it stalled; the run never hangs. (The primary spinning instead ends at the duration, and
    /// is reported as not having halted; such attempts are skipped.)
    @Test("a backup that cannot finish is reported stalled a bounded time after the primary ended")
    func stalled() throws {
        let program = try Assembler.assemble("""
            start:
                bnei r0, 0, .done
                rdclock r1
                andi r1, r1, 1
                beqi r1, 0, .done
            .spin:
                jmp .spin
            .done:
                halt
            """, file: "clock-parity")
        var o = Self.options(duration: 100_000_000)
        o.freeStallGraceNanos = 50_000_000
        for _ in 0..<60 {
            let start = monotonicNanos()
            let report = try FreeReplication.run(program: program, vcpus: 2, options: o)
            let took = monotonicNanos() - start
            guard let stalled = report.stalled else { continue }
            #expect(stalled.contains("had not halted 50ms after the primary's did"), "\(stalled)")
            #expect(report.divergence == nil && report.workNanos != nil)
            #expect(took < 2_000_000_000, "bounded: \(took) ns")
            return
        }
        Issue.record("in 60 runs the primary never halted while the backup spun (each has a 1 in 4 chance)")
    }

    /// A vCPU thread that cannot be pinned fails the run (its timings would mean nothing), and
    /// the CPUs reported are those the kernel allowed.
    @Test("an unpinnable vCPU thread fails the run; the CPUs used are reported")
    func pinning() throws {
        var o = Self.options()
        o.primaryCPUs = [0]
        o.backupCPUs = [4_096]
        let report = try FreeReplication.run(program: try testProgram("partitioned"), vcpus: 2, options: o)
        #expect(report.failure?.contains("backup: backup-vcpu0: CPU 4096 does not exist") == true, "\(report.failure ?? "no failure")")
        #expect(report.primaryCPUs == [0])
    }

    /// The comparison itself, on summaries made to differ: an output differing in its second
    /// output is reported there; equal outputs with different memory are reported as memory;
    /// equal ones are not reported at all. (Negative control for the checker: each difference is
    /// planted, so the check must find it.)
    @Test("the comparison finds a planted output difference and a planted memory difference, and nothing else")
    func comparison() {
        func summary(_ outputs: [[UInt8]], memory: UInt64) -> FreeRun.Summary {
            var hasher = StateHasher()
            for o in outputs { o.withUnsafeBytes { hasher.combine(bytes: $0) } }
            let vcpu = FreeRun.VCPUResult(instructions: 10, outputs: outputs, outputCount: outputs.count, outputHash: hasher.finalize(),
                                          fault: nil, cpusAllowed: [0], ended: true)
            return FreeRun.Summary(vcpus: [vcpu], wallNanos: 1, stateHash: 1, memoryHash: memory, finished: true, pinningFailure: nil)
        }
        let base = summary([[1], [2]], memory: 7)
        #expect(FreeReplication.firstDifference(base, summary([[1], [2]], memory: 7)) == nil)
        #expect(FreeReplication.firstDifference(base, summary([[1], [3]], memory: 7))?.reason.contains("output 2 of vCPU 0 differs") == true)
        #expect(FreeReplication.firstDifference(base, summary([[1], [2]], memory: 8))?.reason.contains("final memory differs") == true)
    }
}
