/// The terminal summary of a result set: one line per scenario, medians over its rounds, and
/// with repeats the FT ratio's 95% interval. Sets that tell interleaving modes apart also show
/// the fixed work's time and its ratio to the free twin (`free_ratio`), with its interval.
public enum SummaryTable {
    public static func render(_ set: ResultSet) -> String {
        // The interleaving column appears when a set has several vCPUs or modes to tell apart.
        let showMode = set.groups().contains { group in
            if case .roundRobin = group[0].scenario.interleaving { return group[0].scenario.vcpus > 1 }
            return true
        }
        let showFaults = set.results.contains { !$0.scenario.faultSpecs.isEmpty }
        let header = ["workload", "profile", "ack", "FT"] + (showFaults ? ["faults"] : []) + (showMode ? ["vCPUs", "interleaving"] : []) + ["offered/s", "achieved/s", "ratio", "MIPS"]
            + (showMode ? ["work ms", "vs free"] : []) + ["p50 µs", "p99 µs", "log Mbit/s", "stall %", "lag p99 µs", "runs", "status"]
        var rows = [header]
        for group in set.groups() {
            let first = group[0], o = first.scenario.options, ft = o.faultTolerance
            let ok = group.filter { $0.status == .ok }
            func median(_ values: [Double], _ decimals: Int) -> String {
                MedianInterval(values).map { Format.fixed($0.median, decimals) } ?? "-"
            }
            func percentile(_ q: Double) -> String {
                median(ok.filter { $0.latency.totalCount > 0 }.map { Double($0.latency.valueAtPercentile(q)) / 1e3 }, 1)
            }
            func withInterval(_ values: [Double]) -> String {
                guard let interval = MedianInterval(values) else { return "-" }
                let median = Format.fixed(interval.median, 3)
                return interval.count > 1 ? median + " [\(Format.fixed(interval.low, 3)), \(Format.fixed(interval.high, 3))]" : median
            }
            let ratio = withInterval(ok.compactMap(\.ftRatio))
            let work = showMode ? [median(ok.compactMap { $0.report.workNanos.map { Double($0) / 1e6 } }, 1), withInterval(ok.compactMap(\.freeRatio))] : []
            let clients = first.scenario.rate != nil
            let failed = group.count - ok.count
            let noisy = ok.filter { $0.interference?.isNoisy == true }.count
            let kinds = [ScenarioStatus.diverged, .stalled, .failed].filter { kind in group.contains { $0.status == kind } }.map(\.rawValue)
            var status = failed == 0 ? "ok" : "\(failed) \(kinds.joined(separator: "/"))"
            if noisy > 0 { status += ", \(noisy) noisy" }
            let mode = showMode ? [String(first.scenario.vcpus), first.scenario.interleaving.description] : []
            rows.append([
                first.scenario.workload, ft ? o.profile.name : "-", ft ? o.ackPolicy.description : "-", ft ? "on" : "off",
            ] + (showFaults ? [first.scenario.faultSpecs.isEmpty ? "-" : first.scenario.faultSpecs] : []) + mode + [
                clients && !first.scenario.arrivals.isClosed ? Format.number(first.scenario.rate!) : "-",
                clients ? median(ok.map(\.achievedRate), 0) : "-", ratio, median(ok.map(\.report.guestMIPS), 1),
            ] + work + [
                percentile(50), percentile(99),
                ft ? median(ok.map { $0.report.windowNanos > 0 ? Double($0.report.logBytes) * 8 / $0.report.windowSeconds / 1e6 : 0 }, 2) : "-",
                median(ok.map { $0.report.primaryStallFraction * 100 }, 2),
                median(ok.compactMap { $0.report.backupLagP99Micros.map { Double($0) } }, 0), String(group.count), status,
            ])
        }
        return Format.table(rows) { $0 < (showMode ? 6 : 4) + (showFaults ? 1 : 0) || $0 == header.count - 1 }
    }
}
