import GuestVM
import Histogram
import LogChannel
import Replication
import Topology

/// How the vCPUs of a machine are interleaved. One mode exists today: deterministic round
/// robin by instruction count, which needs no logging beyond the scheduling entries.
public enum InterleavingMode: Equatable, Sendable, CustomStringConvertible {
    case roundRobin(quantum: UInt64)

    public var description: String {
        switch self {
        case .roundRobin(let q): "round-robin/\(q)"
        }
    }
}

/// One point of a suite: a workload, a channel, an ACK policy, FT on or off, an offered load.
public struct Scenario: Sendable {
    public var workload: String
    public var program: Program
    public var vcpus: Int
    public var options: ReplicationOptions
    /// Offered requests per second, for a workload that serves requests (nil: none are sent).
    public var rate: Double?
    public var arrivals: Arrivals

    public init(workload: String, program: Program, vcpus: Int, options: ReplicationOptions, rate: Double?, arrivals: Arrivals) {
        self.workload = workload
        self.program = program
        self.vcpus = vcpus
        self.options = options
        self.rate = rate
        self.arrivals = arrivals
    }

    public var interleaving: InterleavingMode { .roundRobin(quantum: options.quantum) }
}

/// What a scenario measured, as the CSV reports it.
public struct ScenarioResult: Sendable {
    public var scenario: Scenario
    public var report: ReplicationReport
    public var achievedRate: Double
    public var latency: Histogram<UInt64>
    public var uncorrected: Histogram<UInt64>
    public var duplicateReplies: Int
    /// Achieved rate (or guest MIPS without clients) relative to the same scenario with FT off.
    public var ftRatio: Double?

    public var divergences: Int { report.divergence == nil ? 0 : 1 }
}

public enum ScenarioRunner {
    public static func run(_ scenario: Scenario) throws -> ScenarioResult {
        let client = KVClient(rate: scenario.rate ?? 1, arrivals: scenario.rate == nil ? .closed(outstanding: 0) : scenario.arrivals,
                              seed: scenario.options.seed)
        let (report, used) = try ReplicatedRun.run(program: scenario.program, vcpus: scenario.vcpus, options: scenario.options, client: client)
        return ScenarioResult(
            scenario: scenario, report: report,
            achievedRate: report.windowNanos > 0 ? Double(used.repliesMeasured) / report.windowSeconds : 0,
            latency: used.latency, uncorrected: used.uncorrected, duplicateReplies: used.duplicateReplies, ftRatio: nil)
    }

    /// Fills in each FT-on result's ratio to its FT-off twin (same workload, profile-independent).
    public static func attachRatios(_ results: inout [ScenarioResult]) {
        for i in results.indices where results[i].scenario.options.faultTolerance {
            let s = results[i].scenario
            guard let baseline = results.first(where: {
                !$0.scenario.options.faultTolerance && $0.scenario.workload == s.workload && $0.scenario.rate == s.rate
                    && $0.scenario.vcpus == s.vcpus && $0.scenario.arrivals == s.arrivals
            }) else { continue }
            let useRate = s.rate != nil && baseline.achievedRate > 0
            let mine = useRate ? results[i].achievedRate : results[i].report.guestMIPS
            let theirs = useRate ? baseline.achievedRate : baseline.report.guestMIPS
            results[i].ftRatio = theirs > 0 ? mine / theirs : nil
        }
    }
}
