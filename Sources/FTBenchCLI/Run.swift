import ArgumentParser
import Foundation
import GuestVM
import Harness
import LogChannel
import Replication
import Topology

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run replicated scenarios and write a result set (runs.csv, latency.csv, meta.json).",
        discussion: """
            Every combination of --workload, --profile, --ack, --ft and --rate is one scenario. \
            Each runs for --duration (after --warmup) with the primary on the first of --cpus and \
            the backup on the second. Clients live inside the primary's device emulation, so no \
            third core is needed. Results land in OUTPUT/NAME-<UTC timestamp>/; the columns are \
            documented in results/README.md.
            """)

    @Option(help: "Workloads, comma-separated: built-in names or assembly files.")
    var workload = "kvstore"

    @Option(help: "Channel profiles, comma-separated (lan, cross-city, 3ms,bw=1gbit ... use ';' between profiles that contain commas).")
    var profile = "lan"

    @Option(help: "ACK policies, comma-separated: every, every:N, interval:100us, output-aware[:N].")
    var ack = "output-aware"

    @Option(help: "Fault tolerance: on, off or both (off is the baseline every FT result is compared with).")
    var ft = "both"

    @Option(help: "Offered requests per second, comma-separated, or sweep[:START] to double from START (default 5000) until the achieved rate falls below 90% of the offered one (saturation).")
    var rate = "20000"

    @Option(help: "Arrivals: poisson, constant, or closed:N (N requests outstanding).")
    var arrivals = "poisson"

    @Option(help: "Measured seconds per scenario, after the warm-up.")
    var duration = 2.0

    @Option(help: "Warm-up seconds per scenario (not measured).")
    var warmup = 0.5

    @Option(help: "vCPUs (default: the program's .vcpus).")
    var vcpus: Int?

    @Option(help: "Instructions per vCPU slice (one scheduling entry each).")
    var quantum: UInt64 = 20_000

    @Option(help: "Slow the primary while the backup lags more than this (e.g. 100ms).")
    var lagBound = "100ms"

    @Option(help: "Log ring slots (64 bytes each), a power of two.")
    var logCapacity = 1 << 16

    @Option(help: "CPUs for the primary and the backup, e.g. 0,1.")
    var cpus = "0,1"

    @Option(help: "NUMA node for the log rings (default: the backup CPU's node).")
    var ringNode: Int?

    @Option(help: "Seed for random reads, arrivals and jitter.")
    var seed: UInt64 = 1

    @Option(help: "Directory for result sets.")
    var output = "results"

    @Option(help: "Name of the result set.")
    var name = "run"

    @Flag(help: "Skip the calibration stored in meta.json (saves ~2 s).")
    var noCalibration = false

    func validate() throws {
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be positive") }
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must not be negative") }
        guard ["on", "off", "both"].contains(ft) else { throw ValidationError("--ft must be on, off or both, got '\(ft)'") }
        guard quantum > 0 else { throw ValidationError("--quantum must be positive") }
        guard logCapacity >= 64, logCapacity & (logCapacity - 1) == 0 else { throw ValidationError("--log-capacity must be a power of two >= 64") }
        guard parseCPUPair(cpus) != nil else { throw ValidationError("--cpus '\(cpus)' is not two CPU numbers such as 0,1") }
        guard ChannelProfile.parseDuration(lagBound) != nil else { throw ValidationError("--lag-bound '\(lagBound)' is not a duration such as 100ms") }
        if let vcpus, !(1...64).contains(vcpus) { throw ValidationError("--vcpus must be 1...64, got \(vcpus)") }
        guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--name must be a plain name") }
        if rate.hasPrefix("sweep"), sweepStart == nil { throw ValidationError("--rate '\(rate)' is not sweep or sweep:START with a positive START") }
    }

    func run() throws {
        let host = HostTopology.current()
        let pair = parseCPUPair(cpus)!
        for cpu in [pair.0, pair.1] where cpu >= host.cpuCount {
            throw CLIError("--cpus: CPU \(cpu) does not exist: this machine has CPUs 0...\(host.cpuCount - 1)")
        }
        if let ringNode, ringNode < 0 || ringNode >= host.numaNodes {
            throw CLIError("--ring-node: node \(ringNode) does not exist: this machine has \(host.numaNodes) NUMA node(s)")
        }
        let scenarios = try buildScenarios()
        try ResultSet.checkWritable(output)
        var results: [ScenarioResult] = []
        let total = sweepStart == nil ? "\(scenarios.count)" : "\(scenarios.count)+"
        for (i, base) in scenarios.enumerated() {
            var scenario = base
            while true {
                let label = describe(scenario)
                printProgress("[\(i + 1)/\(total)] \(label) ...")
                let result = try ScenarioRunner.run(scenario)
                if let failure = result.report.failure { throw CLIError("\(label): \(failure)") }
                printProgress("[\(i + 1)/\(total)] \(label): \(summary(result))\n")
                results.append(result)
                // A sweep doubles the offered load until the achieved rate falls behind it.
                guard sweepStart != nil, let offered = scenario.rate, result.achievedRate >= 0.9 * offered, offered < 5e6 else { break }
                scenario.rate = offered * 2
            }
        }
        ScenarioRunner.attachRatios(&results)
        let calibration = noCalibration ? nil : Calibration.measure(cpus: parseCPUPair(cpus)!, samples: 300, entries: 2_000_000)
        let set = ResultSet(results: results, meta: .init(commandLine: CommandLine.arguments, calibration: calibration, allocator: FTBench.allocator))
        let folder = try set.write(into: output, name: name)
        print(SummaryTable.render(results))
        print("results: \(folder)")
        let diverged = results.filter { $0.divergences > 0 }
        if !diverged.isEmpty {
            throw CLIError("\(diverged.count) scenario(s) diverged: \(diverged[0].report.divergence!)")
        }
    }

    func buildScenarios() throws -> [Scenario] {
        let pair = parseCPUPair(cpus)!
        let workloads = try workload.split(separator: ",").map { name -> (String, Program) in
            (String(name), try ProgramLoader.load(String(name)).program)
        }
        let profiles = try splitProfiles(profile).map { spec in
            do { return try ChannelProfile.parse(spec) } catch { throw CLIError("--profile: \(error)") }
        }
        let policies = try ack.split(separator: ",").map { spec in
            do { return try AckPolicy.parse(String(spec)) } catch { throw CLIError("--ack: \(error)") }
        }
        let rates = try sweepStart.map { [$0] } ?? rate.split(separator: ",").map { text -> Double in
            guard let r = Double(text), r > 0, r.isFinite else { throw CLIError("--rate: '\(text)' is not a positive number of requests per second, or sweep[:START]") }
            return r
        }
        let arrivalMode = try parseArrivals(arrivals)
        var scenarios: [Scenario] = []
        let modes: [Bool] = ft == "both" ? [false, true] : [ft == "on"]
        for (name, program) in workloads {
            let servesRequests = program.instructions.contains { $0.op == .dmapost }
            for r in servesRequests ? rates.map(Optional.some) : [nil] {
                for faultTolerance in modes {
                    for p in faultTolerance ? profiles : [profiles[0]] {
                        for policy in faultTolerance ? policies : [policies[0]] {
                            var options = ReplicationOptions()
                            options.faultTolerance = faultTolerance
                            options.profile = p
                            options.ackPolicy = policy
                            options.quantum = quantum
                            options.lagBoundNanos = ChannelProfile.parseDuration(lagBound)!
                            options.logCapacity = logCapacity
                            options.primaryCPU = pair.0
                            options.backupCPU = pair.1
                            options.seed = seed
                            options.ringNode = ringNode
                            options.warmupNanos = UInt64(warmup * 1e9)
                            options.durationNanos = UInt64((warmup + duration) * 1e9)
                            scenarios.append(Scenario(workload: name, program: program, vcpus: vcpus ?? program.preferredVCPUs,
                                                      options: options, rate: r, arrivals: arrivalMode))
                        }
                    }
                }
            }
        }
        return scenarios
    }

    /// The first rate of a sweep, if --rate asks for one.
    var sweepStart: Double? {
        guard rate.hasPrefix("sweep") else { return nil }
        return rate == "sweep" ? 5_000 : Double(rate.dropFirst(6)).flatMap { $0 > 0 ? $0 : nil }
    }

    func describe(_ s: Scenario) -> String {
        let ftText = s.options.faultTolerance ? "FT \(s.options.profile.name) \(s.options.ackPolicy)" : "FT off"
        return "\(s.workload) \(ftText)" + (s.rate.map { " \(Format.fixed($0, 0)) req/s" } ?? "")
    }

    func summary(_ r: ScenarioResult) -> String {
        let latency = r.latency.totalCount > 0
            ? " p50 \(Format.fixed(Double(r.latency.valueAtPercentile(50)) / 1e3, 1)) µs p99 \(Format.fixed(Double(r.latency.valueAtPercentile(99)) / 1e3, 1)) µs" : ""
        let rateText = r.scenario.rate == nil ? "" : " \(Format.fixed(r.achievedRate, 0)) req/s"
        return "\(Format.fixed(r.report.guestMIPS, 1)) MIPS\(rateText)\(latency)" + (r.divergences > 0 ? " DIVERGED" : "")
    }
}

/// Profiles are separated by commas, but a profile's options are too: `lan,cross-city` is two
/// profiles, `3ms,bw=1gbit` one. A ';' always separates.
func splitProfiles(_ text: String) -> [String] {
    if text.contains(";") { return text.split(separator: ";").map(String.init) }
    var profiles: [String] = []
    for part in text.split(separator: ",").map(String.init) {
        if part.contains("="), let last = profiles.popLast() { profiles.append(last + "," + part) } else { profiles.append(part) }
    }
    return profiles
}

func parseArrivals(_ text: String) throws -> Arrivals {
    switch text {
    case "poisson": return .poisson
    case "constant": return .constant
    default:
        if text.hasPrefix("closed:"), let n = Int(text.dropFirst(7)), n >= 1 { return .closed(outstanding: n) }
        throw CLIError("--arrivals: '\(text)' is not poisson, constant or closed:N")
    }
}

func printProgress(_ text: String) {
    FileHandle.standardError.write(Data(("\r" + text).utf8))
}
