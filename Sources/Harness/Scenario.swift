import GuestVM
import Histogram
import LogChannel
import Replication
import Topology

/// How the vCPUs of a machine are interleaved (the `interleaving` column; docs/REPLICATION.md,
/// "Several vCPUs").
public enum InterleavingMode: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// One vCPU, whatever the program asks for: the baseline the multicore modes are compared with.
    case uni(quantum: UInt64)
    /// vCPUs on one host thread in turns of `quantum` instructions: deterministic.
    case roundRobin(quantum: UInt64)
    /// vCPUs on one host thread, each slice ended when it has run `nanos` of host time (checked
    /// every 4,096 instructions), capped at `quantum` instructions; every such switch is logged.
    case timeslice(nanos: UInt64, quantum: UInt64)
    /// Each vCPU on a host thread of its own, in parallel, nothing recorded (`FreeRun`; with
    /// FT on the backup runs its own parallel execution: `FreeReplication`).
    case free
    /// Each vCPU on a host thread of its own, in parallel, every synchronising instruction
    /// ticketed and logged so that a backup replays the same order (`RecordedReplication`).
    case recorded

    /// The column's spelling, which `parse` reads back (quanta and slices included).
    public var description: String {
        switch self {
        case .uni(let q): "uni/\(q)"
        case .roundRobin(let q): "round-robin/\(q)"
        case .timeslice(let n, let q): "timeslice:\(ChannelProfile.compact(nanos: n))/\(q)"
        case .free: "free"
        case .recorded: "recorded"
        }
    }

    /// The default time slice: 50 µs, of the order of a hypervisor's scheduling granularity for a
    /// vCPU that shares its core, and 2,500 times the clock-check cost.
    public static let defaultSliceNanos: UInt64 = 50_000

    /// Parses one `--interleaving` value: `uni`, `roundrobin`, `timeslice[:DURATION]`, `free`,
    /// `recorded`.
    /// `quantum` is the round-robin quantum (and the cap of a time slice).
    public static func parse(_ text: String, quantum: UInt64) -> InterleavingMode? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch parts.first {
        case "uni" where parts.count == 1: return .uni(quantum: quantum)
        case "roundrobin" where parts.count == 1: return .roundRobin(quantum: quantum)
        case "free" where parts.count == 1: return .free
        case "recorded" where parts.count == 1: return .recorded
        case "timeslice":
            guard let nanos = parts.count == 2 ? ChannelProfile.parseDuration(parts[1]) : defaultSliceNanos,
                  (1_000...1_000_000_000).contains(nanos) else { return nil }
            return .timeslice(nanos: nanos, quantum: quantum)
        default: return nil
        }
    }

    /// Whether each vCPU runs on a host thread of its own (`free`, `recorded`).
    public var isParallel: Bool { self == .free || self == .recorded }

    /// vCPUs a scenario in this mode runs with, given the program's or the command line's count.
    public func vcpus(_ requested: Int) -> Int {
        if case .uni = self { return 1 }
        return requested
    }

    /// Sets the options this mode needs.
    public func apply(to options: inout ReplicationOptions) {
        switch self {
        case .uni(let q), .roundRobin(let q):
            options.quantum = q
            options.timesliceNanos = nil
        case .timeslice(let n, let q):
            options.quantum = q
            options.timesliceNanos = n
        case .free, .recorded:
            options.timesliceNanos = nil
        }
    }
}

/// One point of a suite: a workload, a channel, an ACK policy, FT on or off, an offered load.
public struct Scenario: Sendable {
    public var workload: String
    public var program: Program
    /// A hash of the assembled program (its instructions and initial data), so that a row says
    /// exactly which code ran, also for a program file that has since changed.
    public var programHash: UInt64
    /// The `.const` overrides the program was assembled with (`NAME=VALUE ...`, `--define`).
    public var defines = ""
    public var vcpus: Int
    /// Guest memory in bytes (nil: the program's `.memory`, else the default).
    public var memory: Int?
    public var options: ReplicationOptions
    public var interleaving: InterleavingMode
    /// Offered requests per second, for a workload that serves requests (nil: none are sent).
    public var rate: Double?
    public var arrivals: Arrivals

    /// - Parameter interleaving: nil: round robin at `options.quantum`. A given mode sets the
    ///   options it needs and, for `uni`, the vCPU count.
    public init(workload: String, program: Program, vcpus: Int, memory: Int? = nil, options: ReplicationOptions,
                interleaving: InterleavingMode? = nil, rate: Double?, arrivals: Arrivals) {
        self.workload = workload
        self.program = program
        programHash = program.contentHash
        let mode = interleaving ?? .roundRobin(quantum: options.quantum)
        self.interleaving = mode
        self.vcpus = mode.vcpus(vcpus)
        self.memory = memory
        var options = options
        mode.apply(to: &options)
        self.options = options
        self.rate = rate
        self.arrivals = arrivals
    }

    /// The faults injected, as given (`primary-crash@800ms..1600ms`; empty with FT off or none).
    public var faultSpecs: String { options.faultTolerance ? options.faults.map(\.description).joined(separator: " ") : "" }

    /// The ACK policy scenarios use unless told otherwise, as runs.csv spells it.
    public static let defaultAckPolicy = ReplicationOptions().ackPolicy.description

    /// The scenario's identity across repeats and result sets (runs.csv's `scenario` column, which
    /// `ftbench compare` matches on): every setting but the round and the seed. Settings that
    /// only FT uses appear only with FT on, so that an FT-off twin's key is found from it.
    public var key: String {
        let o = options
        var parts = [workload, String(programHash), defines, String(vcpus), String(memory ?? 0), o.faultTolerance ? "on" : "off"]
        if o.faultTolerance {
            parts += [o.profile.name, o.ackPolicy.description, String(o.lagBound), String(o.logCapacity)]
            if !o.faults.isEmpty {
                parts += [faultSpecs, String(o.heartbeat), String(o.failureTimeout),
                          String(o.arbiterLatencyNanos), o.restoreAfterNanos.map(String.init) ?? "never"]
            }
        }
        parts += [rate.map { "\($0)" } ?? "", arrivals.description, interleaving.description, String(o.warmupNanos), String(o.durationNanos),
                  o.primaryCPUs.map(describeCPUs) ?? "any", o.faultTolerance ? o.backupCPUs.map(describeCPUs) ?? "any" : ""]
        return parts.joined(separator: "|")
    }

    /// More spinning host threads (one per side, or one per vCPU under `free` and `recorded`) than CPUs they
    /// may run on: they then wait for each other's time slices, and the row gives no overhead
    /// figure.
    public func isOversubscribed(cpuCount: Int) -> Bool {
        let all = Array(0..<cpuCount), ft = options.faultTolerance
        let used = Set(options.primaryCPUs ?? all).union(ft ? Set(options.backupCPUs ?? all) : [])
        let perSide = interleaving.isParallel ? vcpus : 1
        return perSide * (ft ? 2 : 1) > used.count
    }

    /// The key of the `free` FT-off twin: what a fixed-work row's `freeRatio` is taken against.
    public var freeTwinKey: String {
        var twin = self
        twin.options.faultTolerance = false
        twin.interleaving = .free
        return twin.key
    }

    /// The FT-off twin's key: what an FT-on scenario's ratio is taken against.
    public var baselineKey: String {
        var twin = self
        twin.options.faultTolerance = false
        return twin.key
    }
}

/// How a scenario ended.
public enum ScenarioStatus: String, Sendable {
    case ok
    /// The backup's replay did not match the primary (the report says where).
    case diverged
    /// Free or recorded interleaving: the backup gave up a bounded time after the primary ended.
    case stalled
    /// The scenario could not run or broke off (the error says why); its figures are empty.
    case failed
}

/// What a scenario measured, as the CSV reports it.
public struct ScenarioResult: Sendable {
    public var scenario: Scenario
    /// Which repeat this is, from 0.
    public var round: Int
    public var report: ReplicationReport
    /// Replies that reached the clients inside the window, per second.
    public var achievedRate: Double
    /// Latency from the intended send time, with unanswered requests charged (see `KVClient`).
    public var latency: Histogram<UInt64>
    public var uncorrected: Histogram<UInt64>
    public var duplicateReplies: Int
    public var requestsIntended: Int
    public var requestsSent: Int
    public var repliesAnswered: Int
    /// Requests intended in the window and never sent, or sent and never answered: charged.
    public var requestsUnsent: Int
    public var requestsUnanswered: Int
    /// CPU time others took during the window (nil: /proc could not be read).
    public var interference: Interference?
    /// Achieved rate (or guest MIPS without clients) relative to the same round's FT-off twin.
    public var ftRatio: Double?
    /// The FT ratio against what the backup's core allows: `ftRatio` over the run's core ratio
    /// (`ReplicationReport.coreRatio`), taken as at most 1, since a faster backup core cannot
    /// lift the primary above its FT-off speed. A backup on a core 5% slower than the primary's
    /// bounds the FT ratio of a CPU-bound guest near 0.95; this reads that as 1. Only for a guest
    /// without clients (a ratio of guest MIPS): with clients the ratio is of achieved request
    /// rates, which the backup's core bounds only at saturation.
    public var ftRatioPerCore: Double? {
        guard scenario.rate == nil, let ftRatio, let core = report.coreRatio, core.isFinite, core > 0 else { return nil }
        return ftRatio / min(1, core)
    }
    /// How fast the primary's core ran the guest with FT on, against the same round's FT-off
    /// twin: the twin's `primaryCoreNanos` over this row's. Below 1: the primary's core ran the
    /// same interpreter slower while the backup's core was busy too (on a shared host the two
    /// vCPUs contend for what their physical cores share), which lowers `ftRatio` by as much
    /// without costing anything in the replication itself.
    public var primarySpeedRatio: Double?
    /// For fixed work: the same round's `free` FT-off twin's work time over this row's (the
    /// recording overhead as a ratio of wall times; guest MIPS would count spin-waits as work).
    public var freeRatio: Double?

    public var divergences: Int { report.divergence == nil ? 0 : 1 }

    public var status: ScenarioStatus {
        report.divergence != nil ? .diverged : report.stalled != nil ? .stalled : report.failure != nil ? .failed : .ok
    }

    /// The one-line reason of a failed or diverged scenario.
    public var error: String? { report.divergence.map(String.init(describing:)) ?? report.stalled ?? report.failure }

    /// A scenario that failed before producing any measurement.
    public static func failed(_ scenario: Scenario, round: Int, _ message: String) -> ScenarioResult {
        ScenarioResult(scenario: scenario, round: round, report: .failed(message, faultTolerance: scenario.options.faultTolerance),
                       achievedRate: 0, latency: KVClient.makeHistogram(), uncorrected: KVClient.makeHistogram(),
                       duplicateReplies: 0, requestsIntended: 0, requestsSent: 0, repliesAnswered: 0, requestsUnsent: 0,
                       requestsUnanswered: 0, interference: nil, ftRatio: nil, freeRatio: nil)
    }

    /// What the FT ratio compares: the achieved rate for a workload with clients, else guest MIPS.
    var throughput: Double { scenario.rate != nil ? achievedRate : report.guestMIPS }
}

extension ScenarioResult {
    /// A run with clients: what they measured in the report's window.
    init(clientRun scenario: Scenario, round: Int, report: ReplicationReport, client: KVClient, interference: Interference?) {
        self.init(
            scenario: scenario, round: round, report: report,
            achievedRate: report.windowNanos > 0 ? Double(client.repliesInWindow) / report.windowSeconds : 0,
            latency: client.latency, uncorrected: client.uncorrected, duplicateReplies: client.duplicateReplies,
            requestsIntended: client.intendedMeasured, requestsSent: client.sentMeasured, repliesAnswered: client.repliesMeasured,
            requestsUnsent: client.unsentMeasured, requestsUnanswered: client.unansweredMeasured,
            interference: interference, ftRatio: nil, freeRatio: nil)
    }
}

public enum ScenarioRunner {
    /// Runs one scenario, recording its log if `recording` says where (FT on only); a failure
    /// (a guest fault, a program too large for its memory, a thread that could not be pinned, a
    /// trace that could not be written) is returned as a failed result, never thrown.
    /// Fault times given as ranges are drawn here, from the seed and the round, into the options
    /// the run gets; the scenario keeps them as given (its key is the same in every round).
    public static func run(_ scenario: Scenario, round: Int = 0, recording: LogRecording? = nil) -> ScenarioResult {
        if scenario.interleaving.isParallel { return runParallel(scenario, round: round) }
        var options = scenario.options
        options.faults = Fault.draw(options.faults, seed: options.seed, round: round)
        let client = KVClient(rate: scenario.rate ?? 1, arrivals: scenario.rate == nil ? .closed(outstanding: 0) : scenario.arrivals,
                              seed: scenario.options.seed)
        let report: ReplicationReport, used: KVClient
        do {
            let trace = scenario.options.faultTolerance ? try recording?.writer(for: scenario, round: round) : nil
            (report, used) = try ReplicatedRun.run(program: scenario.program, vcpus: scenario.vcpus, memory: scenario.memory,
                                                   options: options, client: client, trace: trace)
        } catch {
            return .failed(scenario, round: round, "\(error)")
        }
        return ScenarioResult(clientRun: scenario, round: round, report: report, client: used, interference: used.interference)
    }

    /// A scenario whose vCPUs run on threads of their own; under `recorded`, a guest that serves
    /// requests gets clients, measured over the whole run (no warm-up). The host's load is
    /// sampled around it.
    static func runParallel(_ scenario: Scenario, round: Int) -> ScenarioResult {
        let before = HostLoad.sample()
        let report: ReplicationReport
        var client: KVClient?
        do {
            let (program, vcpus, memory, options) = (scenario.program, scenario.vcpus, scenario.memory, scenario.options)
            if scenario.interleaving == .recorded, let rate = scenario.rate {
                (report, client) = try RecordedReplication.run(program: program, vcpus: vcpus, memory: memory, options: options,
                                                               client: KVClient(rate: rate, arrivals: scenario.arrivals, seed: options.seed))
            } else {
                report = scenario.interleaving == .recorded
                    ? try RecordedReplication.run(program: program, vcpus: vcpus, memory: memory, options: options)
                    : try FreeReplication.run(program: program, vcpus: vcpus, memory: memory, options: options)
            }
        } catch {
            return .failed(scenario, round: round, "\(error)")
        }
        let after = HostLoad.sample()
        let interference = before.flatMap { b in after.map { $0.since(b) } }
        guard let client else {
            return ScenarioResult(
                scenario: scenario, round: round, report: report, achievedRate: 0, latency: KVClient.makeHistogram(),
                uncorrected: KVClient.makeHistogram(), duplicateReplies: 0, requestsIntended: 0, requestsSent: 0, repliesAnswered: 0,
                requestsUnsent: 0, requestsUnanswered: 0, interference: interference, ftRatio: nil, freeRatio: nil)
        }
        return ScenarioResult(clientRun: scenario, round: round, report: report, client: client, interference: client.interference ?? interference)
    }

    /// Fills in each FT-on result's ratio to its FT-off twin of the same round (same workload,
    /// load and vCPUs; the profile does not apply to FT off). Pairing within a round keeps the
    /// ratio's two runs close in time, so that slow drifts of a noisy host cancel.
    public static func attachRatios(_ results: inout [ScenarioResult]) {
        var baselines: [String: Double] = [:]
        var coreNanos: [String: Double] = [:]
        // A guest that stopped during warm-up was measured over its warm-up, and an
        // oversubscribed row measured the scheduler: no ratio from either.
        let cpus = HostTopology.current().cpuCount
        func usable(_ r: ScenarioResult) -> Bool { r.status == .ok && !r.report.endedDuringWarmup && !r.scenario.isOversubscribed(cpuCount: cpus) }
        for r in results where !r.scenario.options.faultTolerance && usable(r) {
            baselines["\(r.round)|\(r.scenario.key)"] = r.throughput
            coreNanos["\(r.round)|\(r.scenario.key)"] = r.report.primaryCoreNanos
        }
        for i in results.indices where results[i].scenario.options.faultTolerance && usable(results[i]) {
            let twin = "\(results[i].round)|\(results[i].scenario.baselineKey)"
            if let theirs = coreNanos[twin], let ours = results[i].report.primaryCoreNanos, ours > 0 {
                results[i].primarySpeedRatio = theirs / ours
            }
            guard let theirs = baselines[twin], theirs > 0 else { continue }
            results[i].ftRatio = results[i].throughput / theirs
        }
        var freeWork: [String: UInt64] = [:]
        for r in results where r.scenario.interleaving == .free && !r.scenario.options.faultTolerance && usable(r) {
            if let work = r.report.workNanos { freeWork["\(r.round)|\(r.scenario.key)"] = work }
        }
        for i in results.indices where usable(results[i]) && results[i].scenario.key != results[i].scenario.freeTwinKey {
            guard let work = results[i].report.workNanos, work > 0,
                  let theirs = freeWork["\(results[i].round)|\(results[i].scenario.freeTwinKey)"] else { continue }
            results[i].freeRatio = Double(theirs) / Double(work)
        }
    }
}
