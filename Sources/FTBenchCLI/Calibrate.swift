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
            batches of 64. Then the production path: log entries encoded with their header and \
            CRC-32C, decoded and verified, and ACKs back, on a loopback channel. Run it on an otherwise idle machine: two spinning threads collapse \
            when anything else runs.
            """)

    @Option(help: "The two CPUs to pin the two sides to, e.g. 0,1.")
    var cpus: String = "0,1"

    @Option(parsing: .unconditional, help: "Round-trip samples (each the mean of 64 round trips).")
    var samples: Int = 2_000

    @Option(parsing: .unconditional, help: "Entries per throughput measurement.")
    var entries: Int = 20_000_000

    @Flag(help: "Print one `name value` line per figure (for scripts).")
    var machineReadable = false

    func validate() throws {
        _ = try CPUPair(cpus, option: "--cpus")
        guard (1...1_000_000).contains(samples) else { throw ValidationError("--samples must be 1...1000000, got \(samples)") }
        guard (1...10_000_000_000).contains(entries) else { throw ValidationError("--entries must be 1...10000000000, got \(entries)") }
    }

    func run() throws {
        let pair = try CPUPair(cpus, option: "--cpus")
        let host = HostTopology.current()
        for cpu in [pair.primary, pair.backup] where cpu >= host.cpuCount {
            throw CLIError("CPU \(cpu) does not exist: this machine has CPUs 0...\(host.cpuCount - 1)")
        }
        if !machineReadable {
            print("machine: \(host.cpuModel), \(host.cpuCount) CPUs, \(host.numaNodes) NUMA node(s); pinned to CPUs \(pair.primary) and \(pair.backup)")
        }
        let calibration = Calibration.measure(cpus: (pair.primary, pair.backup), samples: samples, entries: entries, productionPath: true)
        print(machineReadable ? calibration.machineReadable : calibration.report)
    }
}
