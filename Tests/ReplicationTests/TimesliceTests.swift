import GuestVM
import Harness
import LogChannel
import Replication
import Testing

/// Timeslice interleaving: several vCPUs on one host thread, each slice ended early when its host
/// time is up (`TimeSlicer`), the switch logged as a `preempt` entry, and the backup switching at
/// exactly the same instruction. Replay equality compares the state hashes (registers, devices,
/// all of memory); the negative controls break the switch log.
@Suite("Timeslice interleaving")
struct TimesliceTests {
    static func timeslice(seed: UInt64 = 1, sabotage: Sabotage = Sabotage()) -> ReplicationOptions {
        var o = options(.lan, seed: seed)
        o.timesliceNanos = 20_000
        // The quantum only caps a slice here: host time ends it first.
        o.quantum = 1 << 30
        o.sabotage = sabotage
        return o
    }

    static func run(_ workload: String, vcpus: Int? = nil, _ o: ReplicationOptions, recordLog: Bool = false) throws -> ReplicationReport {
        let program = try testProgram(workload)
        return try ReplicatedRun.run(program: program, vcpus: vcpus ?? program.preferredVCPUs, options: o,
                                     client: client(rate: 10_000, seed: o.seed), recordLog: recordLog).0
    }

    /// Replay equality per workload, vCPU count and seed (3 seeds, 20 with FTBENCH_LONG_TESTS=1):
    /// the switch points depend on how fast the host ran each slice, so they differ from run to
    /// run, and the backup must follow them.
    @Test("the backup switches vCPUs where the primary's time slices ended, and reaches its state",
          arguments: [("shared-counter", 2), ("shared-counter", 4), ("partitioned", 2), ("partitioned", 4), ("lock-heavy", 2),
                      ("producer-consumer", 2), ("racy-counter", 2), ("kvstore", 1), ("compute", 1)],
          ReplicatedRunTests.seeds)
    func replayEquality(workload: (String, Int), seed: UInt64) throws {
        let report = try Self.run(workload.0, vcpus: workload.1, Self.timeslice(seed: seed), recordLog: true)
        #expect(report.failure == nil && report.divergence == nil, "\(report.failure ?? "") \(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash)
        #expect(report.backupOutputsChecked == report.outputs)
        let log = try #require(report.recordedLog)
        let slices = log.filter { $0.header.kind == .scheduling }
        #expect(slices.allSatisfy { $0.header.flags.contains(.preemptible) })
        if ["partitioned", "compute", "lock-heavy"].contains(workload.0) {
            // Compute-bound slices run until their time is up.
            #expect(log.contains { $0.header.kind == .preempt }, "no slice was preempted")
        }
    }

    /// Negative control for the switch log. Sabotage: `dropFirstPreempt`, the backup never sees
    /// the first `preempt` entry; the sequence check reports the gap at exactly that seq.
    @Test("negative control: a skipped switch entry is reported at its seq")
    func skippedSwitch() throws {
        let report = try Self.run("partitioned", vcpus: 2, Self.timeslice(sabotage: .only(\.dropFirstPreempt)))
        let dropped = try #require(report.sabotagedSeq, "no switch was logged")
        let divergence = try #require(report.divergence, "a skipped switch went unnoticed")
        #expect(divergence.seq == dropped)
    }

    /// Negative control for the switch itself, with the sequence check off too. Sabotage:
    /// `dropFirstPreempt` and `skipChecks: .sequence`: the backup does not know the slice ended
    /// early, runs the vCPU past the switch point, and the next entry (the next slice, or an exit
    /// of another vCPU) is not where its replay is: reported as a divergence, never a silent
    /// difference.
    @Test("negative control: a switch not made is a divergence even without the sequence check")
    func switchNotMade() throws {
        var sabotage = Sabotage.only(\.dropFirstPreempt)
        sabotage.skipChecks = .sequence
        let report = try Self.run("partitioned", vcpus: 2, Self.timeslice(sabotage: sabotage))
        let dropped = try #require(report.sabotagedSeq, "no switch was logged")
        let divergence = try #require(report.divergence, "a switch not made went unnoticed")
        #expect(divergence.seq > dropped)
    }
}
