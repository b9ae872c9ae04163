import GuestVM
import LogChannel
import Replication
import Testing

@testable import Harness

@Suite("SummaryTable")
struct SummaryTableTests {
    /// The first version converted the lag with `Double.init`, which Swift resolved to
    /// `Double(bitPattern:)`: every lag printed as 0.
    @Test("medians over rounds are printed as measured, the lag included")
    func medians() throws {
        var options = ReplicationOptions()
        options.profile = .lan
        let program = try #require(try BuiltinPrograms.program(named: "compute"))
        let scenario = Scenario(workload: "compute", program: program, vcpus: 1, options: options, rate: nil, arrivals: .poisson)
        let results = (0..<3).map { round -> ScenarioResult in
            var r = ScenarioResult.failed(scenario, round: round, "")
            r.report.failure = nil
            r.report.windowNanos = 1_000_000_000
            r.report.primaryInstructions = UInt64(400 + round) * 1_000_000
            r.report.backupLagP99Micros = UInt64(70 + round)
            return r
        }
        let table = SummaryTable.render(ResultSet(results: results, meta: .init(commandLine: [], calibration: nil)))
        let row = try #require(table.split(separator: "\n").last)
        #expect(row.contains(" 401.0 "), "guest MIPS median: \(row)")
        #expect(row.contains(" 71 "), "lag p99 median: \(row)")
        #expect(row.contains(" 3  ok"))
    }
}
