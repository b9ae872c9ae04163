#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Harness

/// A result set's report: `charts/*.svg` and `index.html` (the charts inline, the summary
/// table, the machine, the calibration, noise flags and the command that reproduces the set),
/// made from the set's files alone, so that `ftbench chart` remakes them for any set.
public enum Report {
    /// Reads the set in `folder` and writes its charts and `index.html` there, each file replaced
    /// atomically (written beside, then renamed over); returns the charts drawn.
    @discardableResult
    public static func write(into folder: String) throws -> [Chart] {
        let set = try StoredResultSet(path: folder)
        let charts = ResultCharts.all(set)
        let chartDir = "\(folder)/charts"
        if mkdir(chartDir, 0o755) != 0, errno != EEXIST { throw ReportError("cannot create \(chartDir): \(String(cString: strerror(errno)))") }
        let names = Set(charts.map(\.file))
        for old in (try? FileManager.default.contentsOfDirectory(atPath: chartDir)) ?? [] where old.hasSuffix(".svg") && !names.contains(old) {
            unlink("\(chartDir)/\(old)")
        }
        for chart in charts { try replace("\(chartDir)/\(chart.file)", with: chart.plot.svg()) }
        try replace("\(folder)/index.html", with: html(set, charts))
        return charts
    }

    static func replace(_ path: String, with text: String) throws {
        let temporary = "\(path).tmp-\(getpid())"
        unlink(temporary)
        try ResultSet.writeNew(Data(text.utf8), to: temporary)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ReportError("cannot write \(path): \(reason)")
        }
    }

    static func e(_ s: String) -> String { Plot.escape(s) }

    /// A table cell: the median, and its interval in brackets when there are several values.
    static func intervalCell(_ interval: MedianInterval?, _ decimals: Int) -> String {
        guard let i = interval else { return "<td>-</td>" }
        let range = i.count > 1 ? " <span class=\"muted\">[\(Format.fixed(i.low, decimals)), \(Format.fixed(i.high, decimals))]</span>" : ""
        return "<td>\(Format.fixed(i.median, decimals))\(range)</td>"
    }

    /// The command line as a shell would take it back.
    static func shellQuoted(_ arguments: [String]) -> String {
        arguments.map { a in
            a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+".contains($0) }) && !a.isEmpty ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    static func html(_ set: StoredResultSet, _ charts: [Chart]) -> String {
        let m = set.meta
        let name = URL(fileURLWithPath: set.path).lastPathComponent.replacingOccurrences(of: ".partial", with: "")
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>ftbench: \(e(name))</title>
            <style>
            body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
            h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
            table { border-collapse: collapse; font-size: 0.86em; margin: 0.5em 0; }
            th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; vertical-align: top; }
            th { background: #f4f4f4; } td.text, th.text { text-align: left; }
            tr.flagged td { background: #fff6e0; } tr.failed td { background: #fde8e8; }
            pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
            .warning { background: #fde8e8; border: 1px solid #e0a0a0; padding: 0.6em; }
            .chart { margin: 1em 0; } .chart svg { max-width: 100%; height: auto; border: 1px solid #eee; }
            .muted { color: #666; font-size: 0.9em; }
            </style></head><body>
            <h1>ftbench result set \(e(name))</h1>
            <p class="muted">Created \(e(m.createdUTC)) by ftbench \(e(m.ftbenchVersion)) (commit \(e(String(m.build.commit.prefix(12))))\(m.build.dirty ? ", with uncommitted changes" : "")), schema \(m.schemaVersion). Columns and units: results/README.md in the ftbench repository.</p>

            """
        if !m.complete {
            out += "<p class=\"warning\"><b>Incomplete:</b> \(m.scenariosRun) of \(m.scenariosPlanned) scenario runs completed (the run was interrupted). Figures below cover only what ran.</p>\n"
        }
        let failed = set.runs.rows.indices.filter { set.runs.cell($0, "status") != "ok" }
        if !failed.isEmpty {
            out += "<p class=\"warning\"><b>\(failed.count) run(s) did not complete normally</b> (failed, diverged or stalled); they are left out of every median. First: row \(failed[0]): \(e(set.runs.cell(failed[0], "status"))) \(e(set.runs.cell(failed[0], "error")))</p>\n"
        }
        out += summaryTable(set) + faultsTable(set)
        out += "<h2>Charts</h2>\n"
        if charts.isEmpty { out += "<p>This set holds no series a chart needs (several loads, profiles, ACK policies, latency histograms or faults).</p>\n" }
        for chart in charts {
            out += "<div class=\"chart\" id=\"\(e(chart.file))\">\n\(chart.plot.svg())<p class=\"muted\">charts/\(e(chart.file)), from \(e(chart.source))</p></div>\n"
        }
        out += "<h2>Reproduce</h2>\n<pre>\(e(shellQuoted(m.commandLine)))</pre>\n"
        if let suite = try? String(contentsOfFile: "\(set.path)/suite.toml", encoding: .utf8) {
            out += "<details><summary>The suite as it ran (<code>suite.toml</code> in this folder; <code>ftbench suite suite.toml</code> runs it again)</summary>\n<pre>\(e(suite))</pre></details>\n"
        }
        out += machine(set)
        return out + "</body></html>\n"
    }

    static func summaryTable(_ set: StoredResultSet) -> String {
        var out = """
            <h2>Summary</h2>
            <p class="muted">Medians over the completed rounds, with their 95% confidence interval (order statistics of the median) in brackets. Shaded rows: some round was noisy (other processes or steal took CPU) or oversubscribed (more spinning threads than CPUs).</p>
            <table><tr><th class="text">scenario</th><th>rounds</th><th>achieved req/s</th><th>p50 µs</th><th>p99 µs</th><th>FT ratio</th><th>guest MIPS</th><th>ACKs/s</th><th>stall %</th><th>lag p99 µs</th><th class="text">flags</th></tr>

            """
        for s in set.scenarios {
            func cell(_ column: String, _ decimals: Int) -> String { intervalCell(s.interval(column), decimals) }
            let ok = s.okRows.count
            var flags: [String] = []
            let noisy = s.rows.filter { set.runs.cell($0, "noisy") == "yes" }.count
            if noisy > 0 { flags.append("\(noisy) noisy") }
            if s.rows.contains(where: { set.runs.cell($0, "oversubscribed") == "yes" }) { flags.append("oversubscribed") }
            if ok < s.rows.count { flags.append("\(s.rows.count - ok) not ok") }
            let divergences = s.values("divergences").reduce(0, +)
            if divergences > 0 { flags.append("\(Int(divergences)) divergences") }
            let rowClass = ok < s.rows.count ? " class=\"failed\"" : s.flagged ? " class=\"flagged\"" : ""
            out += "<tr\(rowClass)><td class=\"text\">\(e(s.label))</td><td>\(ok)/\(s.rows.count)</td>" + cell("achieved_rps", 0) + cell("p50_us", 1)
                + cell("p99_us", 1) + cell("ft_ratio", 3) + cell("guest_mips", 1) + cell("acks_per_s", 0) + cell("primary_stall_pct", 2)
                + cell("backup_lag_p99_us", 0) + "<td class=\"text\">\(e(flags.joined(separator: ", ")))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    /// Per scenario with faults: what its failures cost, over its rounds (faults.csv).
    static func faultsTable(_ set: StoredResultSet) -> String {
        let withFaults = set.scenarios.filter { s in s.rows.contains { r in set.faults.rows.indices.contains { set.faults.cell($0, "row") == String(r) } } }
        guard !withFaults.isEmpty else { return "" }
        var out = """
            <h2>Faults</h2>
            <p class="muted">From faults.csv, over the rounds: medians with their 95% interval. Outage: from the fault to the first reply the clients accepted after it. Lost outputs and two-owner epochs must be 0.</p>
            <table><tr><th class="text">scenario</th><th>faults</th><th>detection ms</th><th>go-live ms</th><th>outage ms</th><th>outage max ms</th><th>outputs lost</th><th>requests unanswered</th><th>two-owner epochs</th></tr>

            """
        for s in withFaults {
            let lines = set.faults.rows.indices.filter { i in s.rows.contains { String($0) == set.faults.cell(i, "row") } }
            func values(_ column: String) -> [Double] { lines.compactMap { set.faults.number($0, column) } }
            func cell(_ column: String) -> String { intervalCell(MedianInterval(values(column)), 2) }
            let lost = s.values("outputs_lost").reduce(0, +), unanswered = s.values("requests_lost").reduce(0, +)
            let twoOwners = s.rows.filter { !set.runs.cell($0, "two_owner_epochs").isEmpty }.count
            out += "<tr><td class=\"text\">\(e(s.label))</td><td>\(lines.count)</td>" + cell("detection_ms") + cell("go_live_ms") + cell("outage_ms")
                + "<td>\(values("outage_ms").max().map { Format.fixed($0, 2) } ?? "-")</td><td>\(Int(lost))</td><td>\(Int(unanswered))</td><td>\(twoOwners)</td></tr>\n"
        }
        return out + "</table>\n"
    }

    static func machine(_ set: StoredResultSet) -> String {
        let m = set.meta
        var rows: [(String, String)] = [
            ("CPU", m.machine.cpuModel), ("CPUs", String(m.machine.cpus)), ("NUMA nodes", String(m.machine.numaNodes)),
            ("allocator", m.machine.allocator), ("CPUs used", m.cpusUsed.sorted { $0.key > $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
        ]
        rows += (m.placement ?? [:]).sorted { $0.key < $1.key }.map { ("placement: \($0.key)", $0.value) }
        let noisy = set.runs.rows.indices.filter { set.runs.cell($0, "noisy") == "yes" }.count
        let over = set.runs.rows.indices.filter { set.runs.cell($0, "oversubscribed") == "yes" }.count
        rows.append(("noise flags", "\(noisy) of \(set.runs.rows.count) runs noisy, \(over) oversubscribed"))
        var out = "<h2>Machine</h2>\n<table>\n" + rows.map { "<tr><th class=\"text\">\(e($0.0))</th><td class=\"text\">\(e($0.1))</td></tr>" }.joined(separator: "\n") + "\n</table>\n"
        out += "<h2>Calibration</h2>\n"
        if let c = m.calibration {
            let figures: [(String, String)] = [
                ("cache-line round trip (the floor), p50 / p99", "\(Format.fixed(c.floorRoundTripP50Ns, 0)) / \(Format.fixed(c.floorRoundTripP99Ns, 0)) ns"),
                ("channel round trip, 8-byte entry, p50 / p99", "\(Format.fixed(c.channelRoundTrip8BP50Ns, 0)) / \(Format.fixed(c.channelRoundTrip8BP99Ns, 0)) ns"),
                ("channel round trip, 64-byte entry, p50 / p99", "\(Format.fixed(c.channelRoundTrip64BP50Ns, 0)) / \(Format.fixed(c.channelRoundTrip64BP99Ns, 0)) ns"),
                ("channel throughput, one at a time / batched", "\(Format.fixed(c.throughputOneAtATimePerS / 1e6, 1)) / \(Format.fixed(c.throughputBatchedPerS / 1e6, 1)) M entries/s"),
                ("interpreter", "\(Format.fixed(c.interpreterNanosPerInstruction, 2)) ns per guest instruction"),
            ]
            out += "<p class=\"muted\">Measured after the scenarios, on the primary's and the backup's CPUs. A floor far above ~110 ns means the host placed the two vCPUs far apart.</p>\n<table>\n"
                + figures.map { "<tr><th class=\"text\">\(e($0.0))</th><td>\(e($0.1))</td></tr>" }.joined(separator: "\n") + "\n</table>\n"
        } else {
            out += "<p>Not measured for this set (--no-calibration, an interrupted run, or unpinned sides).</p>\n"
        }
        let settings = m.settings.sorted { $0.key < $1.key }
        out += "<h2>Settings</h2>\n<table>\n" + settings.map { "<tr><th class=\"text\">\(e($0.key))</th><td class=\"text\">\(e($0.value))</td></tr>" }.joined(separator: "\n") + "\n</table>\n"
        return out
    }
}
