import ArgumentParser
import Foundation
import GuestVM
import Harness
import LogChannel
import Replication
import Topology

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run replicated scenarios and write a result set (runs.csv, latency.csv, summary.csv, meta.json).",
        discussion: """
            Every combination of --workload, --profile, --ack, --ft and --rate is one scenario. \
            Each runs for --duration (after --warmup) with the primary on --primary-cpus and \
            the backup on --backup-cpus. Clients sit behind a network both sides share, driven by the live side, so no \
            third core is needed. With --repeat N every scenario runs N times, in rounds that run \
            each scenario once in a rotated order; summary.csv gives each metric's median with a \
            95% confidence interval and each FT/non-FT ratio paired within rounds. A scenario \
            that fails is recorded with its error and the others still run; the exit status is \
            then non-zero. The first SIGINT or SIGTERM stops after the current scenario and \
            writes what completed as an incomplete set; a second one ends the process at once. \
            Results land in OUTPUT/NAME-<UTC timestamp>/; the columns are documented in \
            results/README.md. With --fault, each FT scenario has faults injected; failures are \
            detected by heartbeats, the survivor wins the arbiter and goes live, and faults.csv \
            and timeline.csv say what the clients saw (docs/FAILOVER.md).
            """)

    @Option(help: "Workloads, comma-separated: built-in names or assembly files.")
    var workload = "kvstore"

    @Option(help: "Channel profiles, comma-separated (lan, cross-city, 3ms,bw=1gbit ... use ';' between profiles that contain commas).")
    var profile = "lan"

    @Option(help: "ACK policies, comma-separated: every, every:N, interval:100us, output-aware[:N].")
    var ack = "output-aware"

    @Option(help: "Fault tolerance: on, off or both (off is the baseline every FT result is compared with).")
    var ft = "both"

    @Option(help: "Offered requests per second (0.001 to 1e12), comma-separated, or sweep[:START] to double from START (default 5000) until the achieved rate falls below 90% of the offered one (saturation).")
    var rate = "20000"

    @Option(help: "Arrivals: poisson, constant, or closed:N (N requests outstanding; --rate is then not used).")
    var arrivals = "poisson"

    @Option(parsing: .unconditional, help: "Measured seconds per scenario, after the warm-up (at most 3600 with the warm-up).")
    var duration = 2.0

    @Option(parsing: .unconditional, help: "Warm-up seconds per scenario (not measured).")
    var warmup = 0.5

    @Option(name: .customLong("repeat"), parsing: .unconditional,
            help: "Runs of every scenario, in rotated rounds (1-1000; default 6, the fewest that give a 95% interval of the median; 1 for a sweep).")
    var repeatOption: Int?

    /// Six runs are the fewest whose order-statistic interval of the median covers 95%.
    var repeats: Int { repeatOption ?? (rate.hasPrefix("sweep") ? 1 : 6) }

    @Option(parsing: .unconditional, help: "vCPUs (default: the program's .vcpus).")
    var vcpus: Int?

    @Option(help: "Guest memory size, e.g. 4M or 16MiB (default: the program's .memory, else 4 MiB).")
    var memory: String?

    @Option(parsing: .unconditional, help: "Instructions per vCPU slice (one scheduling entry each; a guest of one vCPU with nothing to inject may run up to 8 in one slice); under timeslice, the cap of a slice. (default: 20000; timeslice: 100000000)")
    var quantum: UInt64?

    @OptionGroup var defines: DefineOptions

    @Option(help: "How vCPUs interleave, comma-separated: roundrobin (one host thread, turns of --quantum instructions), timeslice[:DURATION] (one host thread, each slice ended by host time, default 50us, every switch logged), uni (one vCPU, the baseline), free (a host thread per vCPU, nothing recorded: with FT on the backup runs its own parallel execution, and differences are reported; guests without devices only), recorded (a host thread per vCPU, every atomic, fence and ordered access ticketed in one global order and logged per vCPU; the backup replays that order on a thread per vCPU; guests without devices only).")
    var interleaving = "roundrobin"

    /// A slice's cap under timeslice when --quantum is not given: large enough that host time
    /// ends the slice (100 M instructions take 0.1-1 s here).
    static let timesliceCap: UInt64 = 100_000_000

    @Option(help: "Pause the primary while the backup's backlog (what it has still to replay, about its lag) exceeds this, until it is under half (e.g. 100ms); auto: 5 ms beyond the channel profile's one-way latency, resuming at 2.5 ms beyond it.")
    var lagBound = "auto"

    @Option(parsing: .unconditional, help: "Log ring slots (64 bytes each), a power of two from 64 to 16777216.")
    var logCapacity = 1 << 16

    @Option(name: .customLong("primary-cpus"), help: "CPUs for the primary's thread (side A's host), a list such as 0, 0-3 or 0,2; or none to leave it unpinned. CPUs that cannot be used fail the scenario. (default: 0)")
    var primaryCPUs: String?

    @Option(name: .customLong("backup-cpus"), help: "CPUs for the backup's thread (side B's host), as --primary-cpus. (default: 1)")
    var backupCPUs: String?

    @Option(parsing: .unconditional, help: "NUMA node for the primary's side: its guest memory and the ring it reads (the ACKs) go there (libnuma); its CPUs must be on it.")
    var primaryNode: Int?

    @Option(parsing: .unconditional, help: "NUMA node for the backup's side: its guest memory and the ring it reads (the log).")
    var backupNode: Int?

    @Option(parsing: .unconditional, help: "Seed for random reads, arrivals and jitter.")
    var seed: UInt64 = 1

    @Flag(name: .customLong("seed-per-round"), help: "Round N (from 0) runs with --seed plus N (the seed column says which), so that --repeat 20 runs 20 seeds.")
    var seedPerRound = false

    @Option(help: "Directory for result sets.")
    var output = "results"

    @Option(help: "Name of the result set: letters, digits, '.', '_' and '-', at most 100 characters.")
    var name = "run"

    @Option(help: "Record each FT scenario's log, as its backup received it, to a trace file in this directory (replay it with `ftbench replay`, list it with `ftbench log`).")
    var recordLog: String?

    @Option(name: .customLong("fault"), help: ArgumentHelp(
        "Inject a fault into every FT scenario (repeatable): primary-crash@T, backup-crash@T, partition@T+D, arbiter-partition@T+D:primary|backup, latency-spike@T+D:L, slow-backup@T+D:F. T is a time from the start of the run, warm-up included (1.5s, 300ms), or icount:N (when the guest has retired N instructions), or a range (0.5s..1.5s, icount:N..M) from which each round draws a point; D and L are durations, F a fraction in (0, 1]. Results gain faults.csv and timeline.csv rows (docs/FAILOVER.md).",
        valueName: "spec"))
    var faultSpecs: [String] = []

    @Option(help: "Each side proves it is alive at least this often (default: 10ms, or the channel's round trip if longer).")
    var heartbeat: String?

    @Option(help: "A side silent for this long is declared failed (default: 5 heartbeats plus the channel's round trip; 50.09ms on lan).")
    var failureTimeout: String?

    @Option(help: "Round trip of the arbiter's test-and-set, which a side must win before it goes live.")
    var arbiterLatency = "1ms"

    @Option(help: "Clients send a request again when it has gone unanswered this long (default: twice the failure timeout).")
    var clientRetry: String?

    @Option(help: "A primary left without a backup starts a new one by state transfer this long after (the new host's start-up), once a host is free; 'never' leaves redundancy lost.")
    var restoreAfter = "0s"

    @Flag(help: "Skip the calibration stored in meta.json (saves ~2 s).")
    var noCalibration = false

    static let maxSeconds = 3_600.0

    func validate() throws {
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must not be negative") }
        guard duration + warmup <= Self.maxSeconds else {
            throw ValidationError("--duration plus --warmup must be at most \(Int(Self.maxSeconds)) s, got \(duration + warmup)")
        }
        guard (1...1_000).contains(repeats) else { throw ValidationError("--repeat must be 1...1000, got \(repeats)") }
        guard ["on", "off", "both"].contains(ft) else { throw ValidationError("--ft must be on, off or both, got '\(ft)'") }
        if let quantum, quantum == 0 { throw ValidationError("--quantum must be positive") }
        _ = try interleavingModes()
        guard (64...(1 << 24)).contains(logCapacity), logCapacity & (logCapacity - 1) == 0 else {
            throw ValidationError("--log-capacity must be a power of two from 64 to 16777216, got \(logCapacity)")
        }
        guard lagBound == "auto" || ChannelProfile.parseDuration(lagBound).map({ $0 > 0 }) == true else {
            throw ValidationError("--lag-bound '\(lagBound)' is not auto or a positive duration such as 100ms")
        }
        if let vcpus, !(1...64).contains(vcpus) { throw ValidationError("--vcpus must be 1...64, got \(vcpus)") }
        if let memory, parseByteSize(memory) == nil { throw ValidationError("--memory '\(memory)' is not a size such as 4194304, 64K or 16M") }
        guard ResultSetOutput.isValidName(name) else { throw ValidationError(ResultSetOutput.nameRule) }
        if rate.hasPrefix("sweep") {
            guard sweepStart != nil else { throw ValidationError("--rate '\(rate)' is not sweep or sweep:START with START from 0.001 to 1e12") }
            guard repeats == 1 else { throw ValidationError("--rate sweep runs each load once: use --repeat 1 with it, or list the rates") }
        }
        for (option, node) in [("--primary-node", primaryNode), ("--backup-node", backupNode)] {
            if let node, node < 0 { throw ValidationError("\(option) must not be negative, got \(node)") }
        }
        for (name, value) in [("--heartbeat", heartbeat), ("--failure-timeout", failureTimeout), ("--arbiter-latency", arbiterLatency),
                              ("--client-retry", clientRetry)] {
            guard let value else { continue }
            guard let nanos = ChannelProfile.parseDuration(value), nanos <= 60_000_000_000, nanos > 0 || name == "--arbiter-latency" else {
                throw ValidationError("\(name) '\(value)' is not a duration from 1ns to 60s, such as 10ms")
            }
        }
        let faults = try parsedFaults()
        if !faults.isEmpty, ft == "off" { throw ValidationError("--fault needs fault tolerance: use --ft on or both (faults apply to FT scenarios)") }
        let runNanos = UInt64((warmup + duration) * 1e9)
        for fault in faults {
            if let t = fault.at.latestElapsed, t >= runNanos {
                throw ValidationError("--fault '\(fault)': time \(fault.at) is not before the run's end (--warmup plus --duration: \(Format.number(warmup + duration)) s)")
            }
        }
        if restoreAfter != "never", ChannelProfile.parseDuration(restoreAfter).map({ $0 <= 60_000_000_000 }) != true {
            throw ValidationError("--restore-after '\(restoreAfter)' is not a duration from 0s to 60s, such as 100ms, or never")
        }
        var crashes = 0
        for fault in faults {
            guard case .crash = fault else { continue }
            crashes += 1
            if crashes > 1, restoreAfter == "never" {
                throw ValidationError("--fault '\(fault)': a second crash needs restored redundancy (a new backup by state transfer), which --restore-after never turns off")
            }
        }
    }

    func parsedFaults() throws -> [Fault] {
        try faultSpecs.map { spec in
            do { return try Fault.parse(spec) } catch { throw ValidationError("--fault \(error)") }
        }
    }

    func run() throws {
        let host = HostTopology.current()
        let placement = try Placement(primaryCPUs: primaryCPUs, backupCPUs: backupCPUs, primaryNode: primaryNode,
                                      backupNode: backupNode, host: host)
        let scenarios = try buildScenarios(placement: placement)
        let oversubscribed = scenarios.contains { $0.isOversubscribed(cpuCount: host.cpuCount) }
        if oversubscribed {
            let sides = "primary on CPUs \(placement.primaryCPUs.map(describeCPUs) ?? "any"), backup on CPUs \(placement.backupCPUs.map(describeCPUs) ?? "any")"
            FileHandle.standardError.write(Data("ftbench: warning: more spinning threads than CPUs in some scenarios (\(sides); free and recorded run a thread per vCPU): they wait for each other's time slices; those rows are flagged oversubscribed and give no overhead figures (--primary-cpus and --backup-cpus give each side its CPUs)\n".utf8))
        }
        try ResultSet.checkWritable(output)
        if let recordLog { try ResultSet.checkWritable(recordLog) }
        let recording = recordLog.map(LogRecording.init(directory:))
        var (results, interrupted) = Rounds(scenarios: scenarios, repeats: repeats, seedPerRound: seedPerRound, recording: recording,
                                            sweep: sweepStart != nil).run()
        ScenarioRunner.attachRatios(&results)
        let writer = ResultSetOutput(output: output, name: name, placement: placement, calibrate: !noCalibration, settings: settings(),
                                     planned: sweepStart == nil ? scenarios.count * repeats : nil, oversubscribed: oversubscribed)
        try writer.finish(results, interrupted: interrupted)
    }

    func buildScenarios(placement: Placement) throws -> [Scenario] {
        let workloadNames = workload.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !workloadNames.contains(where: \.isEmpty) else { throw CLIError("--workload: empty name in '\(workload)': give built-in names or files, comma-separated") }
        let overrides = try defines.values()
        let workloads = try workloadNames.map { name -> (String, Program) in (name, try ProgramLoader.load(name, defines: overrides).program) }
        let profileSpecs = splitProfiles(profile)
        guard !profileSpecs.isEmpty, !profileSpecs.contains(where: \.isEmpty) else {
            throw CLIError("--profile: empty profile in '\(profile)': give names such as lan or latencies such as 3ms, comma-separated")
        }
        let profiles = try profileSpecs.map { spec in
            do { return try ChannelProfile.parse(spec) } catch { throw CLIError("--profile: \(error)") }
        }
        for p in profiles where Double(p.roundTripNanos) >= duration * 1e9 {
            throw CLIError("--profile: \(p.name)'s round trip (\(ChannelProfile.compact(nanos: p.roundTripNanos))) is not shorter than --duration (\(Format.number(duration)) s): no output could be acknowledged within the window")
        }
        let ackSpecs = ack.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let policies = try ackSpecs.map { spec in
            do { return try AckPolicy.parse(spec) } catch { throw CLIError("--ack: \(error)") }
        }
        let rates = try sweepStart.map { [$0] } ?? rate.split(separator: ",", omittingEmptySubsequences: false).map { text -> Double in
            guard let r = Double(text), r >= 0.001, r <= 1e12 else {
                throw CLIError("--rate: '\(text)' is not a number of requests per second from 0.001 to 1e12, or sweep[:START]")
            }
            return r
        }
        let arrivalMode = try parseArrivals(arrivals)
        let memoryBytes = memory.flatMap(parseByteSize)
        var scenarios: [Scenario] = []
        let modes: [Bool] = ft == "both" ? [false, true] : [ft == "on"]
        let interleavings = try interleavingModes()
        for (name, program) in workloads {
            let vcpuCount = vcpus ?? program.preferredVCPUs
            // Refuse a program the machine cannot hold now, not after the other scenarios ran.
            do { _ = try Machine.memorySize(for: program, vcpus: vcpuCount, requested: memoryBytes) } catch {
                throw CLIError("--workload \(name): \(error)")
            }
            if interleavings.contains(.free), let refusal = FreeRun.refusal(for: program) { throw CLIError("--interleaving free: \(refusal)") }
            let servesRequests = program.instructions.contains { $0.op == .dmapost }
            // Closed-loop clients ignore the rate: one scenario, not one per listed rate.
            let loads: [Double?] = !servesRequests ? [nil] : arrivalMode.isClosed ? [rates[0]] : rates.map(Optional.some)
            for r in loads {
                for faultTolerance in modes {
                    for p in faultTolerance ? profiles : [profiles[0]] {
                        for policy in faultTolerance ? policies : [policies[0]] {
                            var options = ReplicationOptions()
                            options.faultTolerance = faultTolerance
                            options.profile = faultTolerance ? p : .loopback
                            options.ackPolicy = policy
                            options.lagBoundNanos = lagBound == "auto" ? nil : ChannelProfile.parseDuration(lagBound)!
                            options.logCapacity = logCapacity
                            options.primaryCPUs = placement.primaryCPUs
                            options.backupCPUs = placement.backupCPUs
                            options.primaryNode = placement.primaryNode
                            options.backupNode = placement.backupNode
                            options.seed = seed
                            options.warmupNanos = UInt64(warmup * 1e9)
                            options.durationNanos = UInt64((warmup + duration) * 1e9)
                            if faultTolerance {
                                options.faults = try parsedFaults()
                                options.heartbeatNanos = heartbeat.flatMap(ChannelProfile.parseDuration)
                                options.failureTimeoutNanos = failureTimeout.flatMap(ChannelProfile.parseDuration)
                                options.clientRetryNanos = clientRetry.flatMap(ChannelProfile.parseDuration)
                                options.arbiterLatencyNanos = ChannelProfile.parseDuration(arbiterLatency)!
                                options.restoreAfterNanos = restoreAfter == "never" ? nil : ChannelProfile.parseDuration(restoreAfter)
                                guard options.failureTimeout > options.heartbeat + options.profile.roundTripNanos else {
                                    throw CLIError("--failure-timeout (\(ChannelProfile.compact(nanos: options.failureTimeout))) must exceed the heartbeat (\(ChannelProfile.compact(nanos: options.heartbeat))) plus \(p.name)'s round trip, or a live side would be declared failed")
                                }
                            }
                            for mode in interleavings {
                                var scenario = Scenario(workload: name, program: program, vcpus: vcpuCount, memory: memoryBytes,
                                                        options: options, interleaving: mode, rate: r, arrivals: arrivalMode)
                                scenario.defines = defines.canonical
                                scenarios.append(scenario)
                            }
                        }
                    }
                }
            }
        }
        return scenarios
    }

    /// The `--interleaving` modes, with their quanta.
    func interleavingModes() throws(ValidationError) -> [InterleavingMode] {
        var modes: [InterleavingMode] = []
        for text in interleaving.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let isTimeslice = text.hasPrefix("timeslice")
            guard let mode = InterleavingMode.parse(text, quantum: quantum ?? (isTimeslice ? Self.timesliceCap : 20_000)) else {
                throw ValidationError("--interleaving: '\(text)' is not uni, roundrobin, timeslice[:DURATION] (a slice from 1us to 1s), free or recorded")
            }
            guard !modes.contains(mode) else { throw ValidationError("--interleaving names \(mode) twice") }
            modes.append(mode)
        }
        return modes
    }

    /// Every setting, defaults included, as the command line spells it (for meta.json).
    func settings() -> [String: String] {
        [
            "workload": workload, "profile": profile, "ack": ack, "ft": ft, "rate": rate, "arrivals": arrivals,
            "duration": Format.number(duration), "warmup": Format.number(warmup), "repeat": String(repeats),
            "vcpus": vcpus.map(String.init) ?? "program", "memory": memory ?? "program",
            "quantum": quantum.map(String.init) ?? "20000 (round robin), \(Self.timesliceCap) (timeslice cap)", "interleaving": interleaving, "define": defines.canonical,
            "lag-bound": lagBound, "log-capacity": String(logCapacity),
            "primary-cpus": primaryCPUs ?? "0", "backup-cpus": backupCPUs ?? "1",
            "primary-node": primaryNode.map(String.init) ?? "", "backup-node": backupNode.map(String.init) ?? "", "seed": String(seed), "seed-per-round": String(seedPerRound), "output": output, "name": name,
            "calibration": noCalibration ? "skipped" : "measured", "record-log": recordLog ?? "",
            "fault": faultSpecs.joined(separator: " "), "heartbeat": heartbeat ?? "profile", "failure-timeout": failureTimeout ?? "profile",
            "arbiter-latency": arbiterLatency, "client-retry": clientRetry ?? "2 failure timeouts", "restore-after": restoreAfter,
        ]
    }

    /// The first rate of a sweep, if --rate asks for one.
    var sweepStart: Double? {
        guard rate.hasPrefix("sweep") else { return nil }
        if rate == "sweep" { return 5_000 }
        guard rate.hasPrefix("sweep:"), let start = Double(rate.dropFirst(6)), start >= 0.001, start <= 1e12 else { return nil }
        return start
    }
}

/// Profiles are separated by commas, but a profile's options are too: `lan,cross-city` is two
/// profiles, `3ms,bw=1gbit` one. A ';' always separates.
func splitProfiles(_ text: String) -> [String] {
    if text.contains(";") { return text.split(separator: ";", omittingEmptySubsequences: false).map(String.init) }
    var profiles: [String] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
        if part.contains("="), let last = profiles.popLast() { profiles.append(last + "," + part) } else { profiles.append(part) }
    }
    return profiles
}

func parseArrivals(_ text: String) throws -> Arrivals {
    switch text {
    case "poisson": return .poisson
    case "constant": return .constant
    default:
        if text.hasPrefix("closed:"), let n = Int(text.dropFirst(7)), (1...1_000_000).contains(n) { return .closed(outstanding: n) }
        throw CLIError("--arrivals: '\(text)' is not poisson, constant or closed:N (N from 1 to 1000000)")
    }
}
