import ArgumentParser
import GuestVM
import Harness
import LogChannel
import Topology

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this machine's floor, the logging channel and the interpreter.",
        discussion: """
            The floor is one cache line bounced between two pinned cores. Channel round trips \
            are a message through one ring and back through another, with an 8-byte payload \
            (one slot) and a full 64-byte slot (56-byte payload plus the 8-byte frame header). \
            Throughput moves 64-byte slots one at a time (a release store per entry) and in \
            batches of 64. Run it on an otherwise idle machine: two spinning threads collapse \
            when anything else runs.
            """)

    @Option(help: "The two CPUs to pin the two sides to, e.g. 0,1.")
    var cpus: String = "0,1"

    @Option(help: "Round-trip samples (each the mean of 64 round trips).")
    var samples: Int = 2_000

    @Option(help: "Entries per throughput measurement.")
    var entries: Int = 20_000_000

    func validate() throws {
        guard parseCPUPair(cpus) != nil else { throw ValidationError("--cpus '\(cpus)' is not two CPU numbers such as 0,1") }
        guard samples > 0 else { throw ValidationError("--samples must be positive") }
        guard entries > 0 else { throw ValidationError("--entries must be positive") }
    }

    func run() throws {
        let pair = parseCPUPair(cpus)!
        let host = HostTopology.current()
        for cpu in [pair.0, pair.1] where cpu >= host.cpuCount {
            throw CLIError("CPU \(cpu) does not exist: this machine has CPUs 0...\(host.cpuCount - 1)")
        }
        print("machine: \(host.cpuModel), \(host.cpuCount) CPUs, \(host.numaNodes) NUMA node(s); pinned to CPUs \(pair.0) and \(pair.1)")
        let calibration = Calibration.measure(cpus: pair, samples: samples, entries: entries)
        print(calibration.report)
    }
}

func parseCPUPair(_ text: String) -> (Int, Int)? {
    let parts = text.split(separator: ",").map { Int($0) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 0, b >= 0, a != b else { return nil }
    return (a, b)
}
