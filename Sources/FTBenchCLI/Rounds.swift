import Foundation
import Harness

/// Runs scenarios in rounds, each round every scenario once in an order rotated by one (so that
/// no variant always runs first, after a quiet spell, or last, while the host warms up), with
/// progress on standard error and the stop requests of SIGINT and SIGTERM honoured between
/// scenarios. Shared by `ftbench run` and `ftbench suite`.
struct Rounds {
    var scenarios: [Scenario]
    var repeats: Int
    var seedPerRound: Bool
    var recording: LogRecording?
    /// A sweep doubles a scenario's offered load until the achieved rate falls behind it.
    var sweep = false

    /// Host time a run takes beyond its warm-up and measurement (threads, guest set-up, the
    /// final state hashes), for the estimate of time left; `ftbench suite --dry-run` uses it too.
    static let overheadSeconds = 0.15

    static func plannedSeconds(_ s: Scenario) -> Double { Double(s.options.durationNanos) / 1e9 + overheadSeconds }

    /// The results of every scenario that ran, and whether a stop request cut the rounds short.
    func run() -> (results: [ScenarioResult], interrupted: Bool) {
        let stop = StopRequests.install()
        let progress = Progress()
        var results: [ScenarioResult] = []
        let planned = sweep ? "\(scenarios.count)+" : "\(scenarios.count * repeats)"
        var plannedLeft = scenarios.map(Self.plannedSeconds).reduce(0, +) * Double(repeats)
        var plannedDone = 0.0
        let started = Date()
        var done = 0
        for round in 0..<repeats {
            let order = scenarios.indices.map { scenarios[($0 + round) % scenarios.count] }
            for base in order {
                var scenario = base
                if seedPerRound { scenario.options.seed = base.options.seed &+ UInt64(round) }
                while true {
                    if stop.requested { return (results, true) }
                    done += 1
                    let label = describeScenario(scenario) + (repeats > 1 ? " (round \(round + 1))" : "")
                    // Time left: what is planned, scaled by how long the planned time has taken so far.
                    let elapsed = Date().timeIntervalSince(started)
                    let left = sweep ? "" : ", " + Self.duration(plannedDone > 0 ? plannedLeft * elapsed / plannedDone : plannedLeft) + " left"
                    progress.update("[\(done)/\(planned)\(left)] \(label) ...")
                    let result = ScenarioRunner.run(scenario, round: round, recording: recording)
                    progress.finish("[\(done)/\(planned)\(left)] \(label): \(Self.summary(result))")
                    results.append(result)
                    plannedDone += Self.plannedSeconds(scenario)
                    plannedLeft -= Self.plannedSeconds(scenario)
                    guard sweep, result.status == .ok, let offered = scenario.rate, result.achievedRate >= 0.9 * offered,
                          offered < 5e6 else { break }
                    scenario.rate = offered * 2
                }
            }
        }
        return (results, false)
    }

    /// `1 min 05 s`, `42 s`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(max(0, seconds).rounded())
        return s >= 60 ? "\(s / 60) min \(s % 60 < 10 ? "0" : "")\(s % 60) s" : "\(s) s"
    }

    static func summary(_ r: ScenarioResult) -> String {
        if r.status == .failed { return "FAILED: \(r.error ?? "")" }
        let latency = r.latency.totalCount > 0
            ? " p50 \(Format.fixed(Double(r.latency.valueAtPercentile(50)) / 1e3, 1)) µs p99 \(Format.fixed(Double(r.latency.valueAtPercentile(99)) / 1e3, 1)) µs" : ""
        let rateText = r.scenario.rate == nil ? "" : " \(Format.fixed(r.achievedRate, 0)) req/s"
        return "\(Format.fixed(r.report.guestMIPS, 1)) MIPS\(rateText)\(latency)" + (r.status == .diverged ? " DIVERGED" : r.status == .stalled ? " STALLED" : "")
            + (r.interference?.isNoisy == true ? " (noisy)" : "")
    }
}

/// `kvstore FT lan output-aware 10000 req/s`.
func describeScenario(_ s: Scenario) -> String {
    let ftText = s.options.faultTolerance ? "FT \(s.options.profile.name) \(s.options.ackPolicy)" : "FT off"
    let faults = s.faultSpecs.isEmpty ? "" : " " + s.faultSpecs
    return "\(s.workload) \(ftText)" + (s.rate != nil && !s.arrivals.isClosed ? " \(Format.number(s.rate!)) req/s" : "") + faults
}

/// Progress on standard error: one line rewritten in place on a terminal; elsewhere (a log file,
/// CI) only whole lines, one per finished scenario.
struct Progress {
    let isTerminal = isatty(STDERR_FILENO) == 1

    func update(_ text: String) {
        guard isTerminal else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
    }

    func finish(_ text: String) {
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }
}
