import GuestVM
import Topology

/// The speed of the two cores a run's sides are pinned to (`CoreSpeed`), measured at the same
/// time on both, so that each core is as busy as in the run (two spinning threads on a 2-vCPU
/// host). A run measures them before it starts and after it ends, and reports the mean of the two.
struct CoreSpeeds {
    /// ns per guest instruction on the primary's CPUs, and on the backup's (nil without FT).
    var primary: Double
    var backup: Double?

    /// Measures the CPUs `options` pins the primary and (with FT) the backup to.
    static func measure(for options: ReplicationOptions) -> CoreSpeeds {
        let primary = Measured(), backup = Measured()
        let threads = [PinnedThread(cpus: options.primaryCPUs) { primary.value = CoreSpeed.nanosPerInstruction() }]
            + (options.faultTolerance ? [PinnedThread(cpus: options.backupCPUs) { backup.value = CoreSpeed.nanosPerInstruction() }] : [])
        for thread in threads { thread.join() }
        return CoreSpeeds(primary: primary.value, backup: options.faultTolerance ? backup.value : nil)
    }

    /// The mean of two measurements, side by side.
    static func mean(_ a: CoreSpeeds, _ b: CoreSpeeds) -> CoreSpeeds {
        CoreSpeeds(primary: (a.primary + b.primary) / 2, backup: a.backup.flatMap { x in b.backup.map { (x + $0) / 2 } })
    }

    /// Written by one measuring thread, read after `join`, which orders the two.
    private final class Measured: @unchecked Sendable {
        var value = Double.nan
    }
}
