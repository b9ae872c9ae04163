import GuestVM
import LogChannel
import Topology

/// The `free` interleaving with fault tolerance on: nothing is recorded, so the backup cannot
/// replay the primary; it runs its own parallel execution of the same program from the same
/// state, at the same time, on its own CPUs. What this measures is what recording buys: a
/// data-race-free guest ends with the same outputs and the same memory on both sides anyway (its
/// result does not depend on timing; its vCPUs' instruction counts do, as they spin different
/// amounts), a racy one generally does not, and the run reports it: the first output that
/// differs, else the final memory. Clients, devices and the log do not apply (guests
/// with devices are refused, as by `FreeRun`).
///
/// A backup whose guest has not halted a grace period (`stallGrace`) after the primary's did
/// gives up, and the report says it stalled (a racy guest can wait forever on a
/// state the other side reached); nothing hangs.
public enum FreeReplication {
    /// How long after the primary ended the backup may still run: `options.freeStallGraceNanos`,
    /// else at least a second and at least as long as the primary took.
    static func stallGrace(_ options: ReplicationOptions, primaryNanos: UInt64) -> UInt64 {
        options.freeStallGraceNanos ?? max(1_000_000_000, primaryNanos)
    }

    public static func run(program: Program, vcpus: Int, memory: Int? = nil, options: ReplicationOptions) throws -> ReplicationReport {
        let primary = try Machine(program: program, vcpus: vcpus, memorySize: memory, memoryNode: options.memoryNode(of: .a))
        let backup = options.faultTolerance
            ? try Machine(program: program, vcpus: vcpus, memorySize: memory, memoryNode: options.memoryNode(of: .b)) : nil
        let start = monotonicNanos()
        let primaryDeadline = FreeRun.Deadline(start &+ options.durationNanos)
        let backupDeadline = FreeRun.Deadline(start &+ options.durationNanos &+ stallGrace(options, primaryNanos: options.durationNanos))
        let backupSide = backup.map { machine in
            SideThread(name: "backup", running: machine) { (machine) throws(FreeRun.Refused) in
                try FreeRun.run(machine, seed: options.seed, cpus: options.backupCPUs, namePrefix: "backup", deadline: backupDeadline)
            }
        }
        let primaryRun = try FreeRun.run(primary, seed: options.seed, cpus: options.primaryCPUs, namePrefix: "primary", deadline: primaryDeadline)
        let end = monotonicNanos()
        backupDeadline.set(end &+ stallGrace(options, primaryNanos: end - start))
        let backupRun = try backupSide?.join()

        var report = ReplicationReport.parallelPrimary(primaryRun, start: start, end: end, faultTolerance: options.faultTolerance)
        guard let backupRun else { return report }
        report.backupCPUs = backupRun.cpusUsed
        if let unpinned = backupRun.pinningFailure { report.failure = report.failure ?? "backup: \(unpinned)" }
        report.backupStateHash = backupRun.stateHash
        report.backupOutputsChecked = backupRun.vcpus.reduce(0) { $0 + $1.outputCount }
        if !primaryRun.finished {
            // Two runs cut off at a deadline are at arbitrary points: nothing to compare.
            report.failure = report.failure ?? "the primary's guest had not halted when the run's duration ran out: free interleaving compares whole runs of fixed-work guests only"
        } else if !backupRun.finished {
            report.stalled = "the backup's guest had not halted \(ChannelProfile.compact(nanos: stallGrace(options, primaryNanos: end - start))) after the primary's did (free interleaving records no order, so a racy guest can wait forever on what its other side did)"
        } else {
            report.divergence = firstDifference(primaryRun, backupRun)
        }
        return report
    }

    /// The first output that differs between the sides (by vCPU, then by output), else a
    /// difference of final memory; nil when none.
    static func firstDifference(_ primary: FreeRun.Summary, _ backup: FreeRun.Summary) -> Divergence? {
        for (vcpu, (p, b)) in zip(primary.vcpus, backup.vcpus).enumerated() where p.outputHash != b.outputHash || p.outputCount != b.outputCount {
            let index = zip(p.outputs, b.outputs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(p.outputs.count, b.outputs.count)
            return Divergence(seq: 0, vcpu: vcpu, instructionCount: b.instructions,
                              reason: "output \(index + 1) of vCPU \(vcpu) differs (free interleaving: no order recorded)",
                              logged: "\(p.outputCount) output(s)", replayed: "\(b.outputCount)")
        }
        guard primary.memoryHash != backup.memoryHash else { return nil }
        return Divergence(seq: 0, vcpu: 0, instructionCount: backup.totalInstructions,
                          reason: "the final memory differs (free interleaving: no order recorded)",
                          logged: "memory hash \(String(primary.memoryHash, radix: 16))",
                          replayed: "\(String(backup.memoryHash, radix: 16))")
    }
}
