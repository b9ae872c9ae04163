import Foundation
import Harness

/// Two result sets compared scenario by scenario (matched on runs.csv's `scenario` column: every
/// setting but the round and the seed), metric by metric: both medians, the ratio new/base
/// with its interval, and a verdict from the rank-sum test on the repeats and a noise threshold.
public struct Comparison: Sendable {
    public struct Metric: Sendable {
        public var column: String
        public var higherIsBetter: Bool
        /// Whether a regression here fails the comparison (exit status 2).
        public var gates: Bool
    }

    /// Achieved rate, p99, FT ratio and guest MIPS gate; the rest inform.
    public static let metrics: [Metric] = [
        Metric(column: "achieved_rps", higherIsBetter: true, gates: true),
        Metric(column: "p99_us", higherIsBetter: false, gates: true),
        Metric(column: "ft_ratio", higherIsBetter: true, gates: true),
        Metric(column: "guest_mips", higherIsBetter: true, gates: true),
        Metric(column: "p50_us", higherIsBetter: false, gates: false),
        Metric(column: "log_mbit_per_s", higherIsBetter: false, gates: false),
        Metric(column: "acks_per_s", higherIsBetter: false, gates: false),
        Metric(column: "primary_stall_pct", higherIsBetter: false, gates: false),
        Metric(column: "backup_lag_p99_us", higherIsBetter: false, gates: false),
    ]

    public enum Verdict: String, Sendable {
        case improved, regressed, unchanged, inconclusive
    }

    public struct Line: Sendable {
        public var scenario: String
        public var metric: Metric
        public var base: MedianInterval
        public var new: MedianInterval
        /// new median / base median.
        public var ratio: Double
        /// The ratio's interval: exp of the Hodges-Lehmann interval of the shift in logarithms.
        public var ratioLow: Double?
        public var ratioHigh: Double?
        public var pValue: Double?
        public var verdict: Verdict
        public var reason: String
    }

    public var lines: [Line] = []
    /// Scenarios in one set only (labels).
    public var onlyInBase: [String] = []
    public var onlyInNew: [String] = []
    public var threshold: Double
    public var significance: Double

    /// - Parameters:
    ///   - threshold: a change smaller than this fraction is never called a regression or an
    ///     improvement (default 5%: see docs/REPORTS.md for the choice).
    ///   - significance: the test's level (0.05).
    public init(base: StoredResultSet, new: StoredResultSet, threshold: Double = 0.05, significance: Double = 0.05) throws(ReportError) {
        self.threshold = threshold
        self.significance = significance
        for set in [base, new] where !set.meta.complete {
            throw ReportError("\(set.path): incomplete result set (\(set.meta.scenariosRun) of \(set.meta.scenariosPlanned) runs): it cannot be compared")
        }
        let baseScenarios = base.scenarios, newScenarios = new.scenarios
        let newByKey = Dictionary(newScenarios.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let baseKeys = Set(baseScenarios.map(\.key))
        onlyInBase = baseScenarios.filter { newByKey[$0.key] == nil }.map(\.label)
        onlyInNew = newScenarios.filter { !baseKeys.contains($0.key) }.map(\.label)
        for b in baseScenarios {
            guard let n = newByKey[b.key] else { continue }
            for metric in Self.metrics {
                let bv = b.values(metric.column), nv = n.values(metric.column)
                guard let bi = MedianInterval(bv), let ni = MedianInterval(nv) else { continue }
                lines.append(Self.judge(b.label, metric, bv, nv, bi, ni, threshold: threshold, significance: significance))
            }
        }
        guard !lines.isEmpty else {
            throw ReportError("no scenario of \(base.path) matches one of \(new.path) (scenarios match on every setting but the round and seed)")
        }
    }

    static func judge(_ scenario: String, _ metric: Metric, _ b: [Double], _ n: [Double], _ bi: MedianInterval, _ ni: MedianInterval,
                      threshold: Double, significance: Double) -> Line {
        let ratio = bi.median != 0 ? ni.median / bi.median : (ni.median == 0 ? 1 : .infinity)
        var line = Line(scenario: scenario, metric: metric, base: bi, new: ni, ratio: ratio, verdict: .inconclusive, reason: "")
        let positive = (b + n).allSatisfy { $0 > 0 }
        if positive, let shift = RankSumTest.shiftInterval(b.map(log), n.map(log)) {
            line.ratioLow = exp(shift.low)
            line.ratioHigh = exp(shift.high)
        }
        guard b.count >= RankSumTest.minimumRepeats, n.count >= RankSumTest.minimumRepeats else {
            line.reason = "too few repeats (\(b.count) and \(n.count); the test needs \(RankSumTest.minimumRepeats) per side)"
            return line
        }
        let p = RankSumTest.pValue(b, n)
        line.pValue = p
        let better = metric.higherIsBetter ? ratio > 1 : ratio < 1
        let beyond = abs(ratio - 1) > threshold || !ratio.isFinite
        if p < significance {
            if beyond {
                line.verdict = better ? .improved : .regressed
                line.reason = "p = \(Format.fixed(p, 3)), beyond the \(Format.fixed(threshold * 100, 1))% threshold"
            } else {
                line.verdict = .unchanged
                line.reason = "significant (p = \(Format.fixed(p, 3))) but within the \(Format.fixed(threshold * 100, 1))% threshold"
            }
        } else if let lo = line.ratioLow, let hi = line.ratioHigh, lo >= 1 - threshold, hi <= 1 + threshold {
            line.verdict = .unchanged
            line.reason = "not significant (p = \(Format.fixed(p, 3))), interval within the threshold"
        } else {
            line.reason = "not significant (p = \(Format.fixed(p, 3))), but the interval reaches beyond the threshold: more repeats would tell"
        }
        return line
    }

    /// 2 when a gating metric regressed, 4 when gating metrics only improved, else 0
    /// (package-benchmark's convention).
    public var exitStatus: Int32 {
        let gating = lines.filter(\.metric.gates)
        if gating.contains(where: { $0.verdict == .regressed }) { return 2 }
        if gating.contains(where: { $0.verdict == .improved }) { return 4 }
        return 0
    }

    // MARK: Output

    func cells(_ l: Line) -> [String] {
        let interval = l.ratioLow.map { "[\(Format.fixed($0, 3)), \(Format.fixed(l.ratioHigh!, 3))]" } ?? ""
        return [l.scenario, l.metric.column + (l.metric.gates ? "" : " (info)"), Format.significant(l.base.median) + " (n=\(l.base.count))",
                Format.significant(l.new.median) + " (n=\(l.new.count))", Format.fixed(l.ratio, 3), interval,
                l.pValue.map { Format.fixed($0, 3) } ?? "-", l.verdict.rawValue, l.reason]
    }

    static let header = ["scenario", "metric", "base median", "new median", "ratio", "95% interval", "p", "verdict", "why"]

    public func table() -> String {
        var out = Format.table([Self.header] + lines.map(cells)) { $0 < 2 || $0 >= 7 } + "\n"
        out += footer()
        return out
    }

    public func markdown() -> String {
        var out = "| " + Self.header.joined(separator: " | ") + " |\n|" + Self.header.map { _ in " --- |" }.joined() + "\n"
        for l in lines {
            var c = cells(l)
            if l.verdict == .regressed || l.verdict == .improved { c[7] = "**\(c[7])**" }
            out += "| " + c.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
        }
        return out + "\n" + footer()
    }

    func footer() -> String {
        var out = "Verdicts: Wilcoxon-Mann-Whitney rank-sum test at p < \(Format.fixed(significance, 2)) (at least \(RankSumTest.minimumRepeats) repeats per side), "
            + "noise threshold \(Format.fixed(threshold * 100, 1))%; gating metrics: \(Self.metrics.filter(\.gates).map(\.column).joined(separator: ", ")).\n"
        let counts = [Verdict.regressed, .improved, .unchanged, .inconclusive].map { v in "\(lines.filter { $0.verdict == v && $0.metric.gates }.count) \(v.rawValue)" }
        out += "Gating: " + counts.joined(separator: ", ") + ".\n"
        if !onlyInBase.isEmpty { out += "Only in base (not compared): \(onlyInBase.joined(separator: "; "))\n" }
        if !onlyInNew.isEmpty { out += "Only in new (not compared): \(onlyInNew.joined(separator: "; "))\n" }
        return out
    }
}
