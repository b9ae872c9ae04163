import Foundation
import GuestVM
import Harness
import Replication
import Testing

@Suite("ResultSet")
struct ResultSetTests {
    static func result(ft: Bool) throws -> ScenarioResult {
        var options = ReplicationOptions()
        options.faultTolerance = ft
        options.profile = .loopback
        options.durationNanos = 150_000_000
        options.warmupNanos = 50_000_000
        let program = try #require(try BuiltinPrograms.program(named: "kvstore"))
        return try ScenarioRunner.run(Scenario(workload: "kvstore", program: program, vcpus: 1, options: options, rate: 10_000, arrivals: .poisson))
    }

    @Test("runs.csv has the documented columns, one row per scenario, and the FT ratio")
    func csv() throws {
        var results = [try Self.result(ft: false), try Self.result(ft: true)]
        ScenarioRunner.attachRatios(&results)
        let set = ResultSet(results: results, meta: .init(commandLine: ["test"], calibration: nil))
        let lines = set.runsCSV().split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0] == Substring(ResultSet.runsHeader.joined(separator: ",")))
        for line in lines.dropFirst() { #expect(line.split(separator: ",", omittingEmptySubsequences: false).count == ResultSet.runsHeader.count) }
        let ftRow = lines[2].split(separator: ",", omittingEmptySubsequences: false)
        let column = { (name: String) in String(ftRow[ResultSet.runsHeader.firstIndex(of: name)!]) }
        #expect(column("ft") == "on")
        #expect(Double(column("ft_ratio")).map { $0 > 0.9 && $0 < 1.1 } == true)
        #expect(column("divergences") == "0")
        let curve = set.latencyCSV().split(separator: "\n")
        #expect(curve.count == 1 + 2 * ResultSet.curve.count)
    }

    @Test("results/README.md documents every runs.csv column")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("results/README.md"), encoding: .utf8)
        for column in ResultSet.runsHeader + ResultSet.latencyHeader { #expect(doc.contains("`\(column)`"), "\(column) is not documented") }
    }

    @Test("a result set is written whole, into a folder that appears only when complete")
    func atomicWrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ftbench-results-\(UUID().uuidString)").path
        let set = ResultSet(results: [try Self.result(ft: true)], meta: .init(commandLine: ["test"], calibration: nil))
        let folder = try set.write(into: dir, name: "unit")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["latency.csv", "meta.json", "runs.csv"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasSuffix(".partial") })
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/meta.json"))) as? [String: Any]
        #expect((meta?["machine"] as? [String: Any])?["cpus"] != nil)
    }

    @Test("an unwritable output directory is refused before the run")
    func unwritable() {
        #expect(throws: ResultSetError.self) { try ResultSet.checkWritable("/proc/ftbench-cannot-exist") }
    }
}
