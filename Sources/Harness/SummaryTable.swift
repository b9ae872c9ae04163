/// The terminal summary of a suite.
public enum SummaryTable {
    public static func render(_ results: [ScenarioResult]) -> String {
        let header = ["workload", "profile", "ack", "FT", "offered/s", "achieved/s", "ratio", "MIPS", "p50 µs", "p99 µs",
                      "log Mbit/s", "stall %", "lag p99 µs", "div"]
        var rows = [header]
        for r in results {
            let o = r.scenario.options
            let window = r.report.windowSeconds
            func p(_ q: Double) -> String { r.latency.totalCount > 0 ? Format.fixed(Double(r.latency.valueAtPercentile(q)) / 1e3, 1) : "-" }
            rows.append([
                r.scenario.workload, o.faultTolerance ? o.profile.name : "-", o.faultTolerance ? o.ackPolicy.description : "-",
                o.faultTolerance ? "on" : "off", r.scenario.rate.map { Format.fixed($0, 0) } ?? "-",
                r.scenario.rate == nil ? "-" : Format.fixed(r.achievedRate, 0), r.ftRatio.map { Format.fixed($0, 3) } ?? "-",
                Format.fixed(r.report.guestMIPS, 1), p(50), p(99),
                o.faultTolerance ? Format.fixed(window > 0 ? Double(r.report.logBytes) * 8 / window / 1e6 : 0, 2) : "-",
                Format.fixed(r.report.primaryStallFraction * 100, 2), r.report.backupLagP99Micros.map(String.init) ?? "-",
                String(r.divergences),
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < 4 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
