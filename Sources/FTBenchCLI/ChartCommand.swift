import ArgumentParser
import Reporting

struct ChartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chart",
        abstract: "Draw a result set's charts (charts/*.svg) and write its report (index.html) into the set.",
        discussion: "Suites and runs do this when they end; this remakes them, for instance for a set written by an older build of the same schema.")

    @Argument(help: "A result set folder.")
    var resultSet: String

    func run() throws {
        let charts: [Chart]
        do { charts = try Report.write(into: resultSet) } catch { throw CLIError("\(error)") }
        for chart in charts { print("\(resultSet)/charts/\(chart.file)") }
        print("report: \(resultSet)/index.html")
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two result sets scenario by scenario: medians, ratio with its interval, and a verdict per metric.",
        discussion: """
            Scenarios match on every setting but the round and the seed. Each metric's verdict \
            comes from the Wilcoxon-Mann-Whitney rank-sum test on the repeats (at least 4 per \
            side, else inconclusive) and the noise threshold (docs/REPORTS.md). Exit status: 0 \
            unchanged, 2 a gating metric (achieved_rps, p99_us, ft_ratio, guest_mips) regressed, \
            4 gating metrics only improved, 1 unusable input (another schema version, an \
            incomplete set, missing files).
            """)

    @Argument(help: "The base result set folder.")
    var base: String

    @Argument(help: "The new result set folder.")
    var new: String

    @Option(help: "Noise threshold: changes smaller than this are never a regression or an improvement (e.g. 5%, 0.05).")
    var threshold = "5%"

    @Option(help: "Output: table or markdown (for a pull request).")
    var format = "table"

    func validate() throws {
        guard parsedThreshold != nil else { throw ValidationError("--threshold '\(threshold)' is not a fraction from 0 to 1 or a percentage such as 5%") }
        guard ["table", "markdown"].contains(format) else { throw ValidationError("--format must be table or markdown, got '\(format)'") }
    }

    var parsedThreshold: Double? {
        let value = threshold.hasSuffix("%") ? Double(threshold.dropLast()).map { $0 / 100 } : Double(threshold)
        guard let value, value >= 0, value < 1 else { return nil }
        return value
    }

    func run() throws {
        let comparison: Comparison
        do {
            comparison = try Comparison(base: StoredResultSet(path: base), new: StoredResultSet(path: new), threshold: parsedThreshold!)
        } catch {
            throw CLIError("\(error)")
        }
        print(format == "markdown" ? comparison.markdown() : comparison.table(), terminator: "")
        let status = comparison.exitStatus
        if status != 0 { throw ExitCode(status) }
    }
}
