import Foundation
import GuestVM
@testable import Harness
import Replication
@testable import Reporting
import Testing
import TestScratch

@Suite("StoredResultSet")
struct StoredResultSetTests {
    static func result(ft: Bool) throws -> ScenarioResult {
        var options = ReplicationOptions()
        options.faultTolerance = ft
        options.profile = .lan
        options.durationNanos = 200_000_000
        options.warmupNanos = 50_000_000
        let program = try #require(try BuiltinPrograms.program(named: "kvstore"))
        return ScenarioRunner.run(Scenario(workload: "kvstore", program: program, vcpus: 1, options: options, rate: 10_000, arrivals: .poisson))
    }

    static func temporaryDirectory() -> String {
        Scratch.path("reporting")
    }

    @Test("a written set reads back: meta.json, every row and each row's whole latency histogram")
    func roundTrip() throws {
        var results = [try Self.result(ft: false), try Self.result(ft: true)]
        ScenarioRunner.attachRatios(&results)
        var meta = ResultSet.Meta(commandLine: ["ftbench", "run", "--rate", "10,000"], settings: ["workload": "kvstore"], calibration: nil, planned: 2)
        meta.scenariosRun = 2
        let set = ResultSet(results: results, meta: meta)
        let folder = try set.write(into: Self.temporaryDirectory(), name: "roundtrip")
        let stored = try StoredResultSet(path: folder)
        #expect(stored.meta.createdUTC == set.meta.createdUTC)
        #expect(stored.meta.commandLine == set.meta.commandLine)
        #expect(stored.meta.build.commit == set.meta.build.commit)
        #expect(stored.meta.machine.cpuModel == set.meta.machine.cpuModel)
        #expect(stored.runs.rows.count == 2)
        let written = try CSVTable(text: set.runsCSV(), file: "memory")
        #expect(stored.runs.rows == written.rows)
        for (row, r) in results.enumerated() {
            let buckets = try #require(stored.histograms[row])
            #expect(buckets.reduce(0) { $0 + $1.count } == r.latency.totalCount)
            // Every bucket and its count, as the histogram holds them.
            #expect(buckets.map(\.value) == r.latency.recordedValues().map(\.value))
            #expect(buckets.map(\.count) == r.latency.recordedValues().map { UInt64($0.count) })
            // Percentiles agree to the histogram's precision (HdrHistogram clamps the top bucket
            // to the exact maximum it keeps aside).
            for p in [50.0, 90, 99, 99.9, 100] {
                #expect(r.latency.valuesAreEquivalent(ResultCharts.valueAt(p, buckets), r.latency.valueAtPercentile(p)), "p\(p) of row \(row)")
            }
        }
        #expect(stored.scenarios.count == 2)
        #expect(stored.scenarios[1].ft && stored.scenarios[1].profile == "lan")
    }

    @Test("calibration figures survive the snake-case keys of meta.json")
    func calibrationKeys() throws {
        let json = """
            {"schema_version": \(ResultSet.schemaVersion), "ftbench_version": "x", "build": {"commit": "c", "dirty": false}, "command_line": [],
             "created_utc": "2026-11-27T00:00:00Z", "complete": true, "scenarios_planned": 0, "scenarios_run": 0, "scenarios_failed": 0,
             "settings": {}, "cpus_used": {}, "machine": {"cpu_model": "m", "cpus": 2, "numa_nodes": 1, "allocator": "a"},
             "calibration": {"floor_round_trip_p50_ns": 70, "floor_round_trip_p99_ns": 80, "channel_round_trip8_bp50_ns": 150,
              "channel_round_trip8_bp99_ns": 400, "channel_round_trip64_bp50_ns": 160, "channel_round_trip64_bp99_ns": 410,
              "throughput_one_at_a_time_per_s": 4e7, "throughput_batched_per_s": 1e8, "interpreter_nanos_per_instruction": 1.2}}
            """
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let meta = try decoder.decode(ResultSet.Meta.self, from: Data(json.utf8))
        #expect(meta.calibration?.channelRoundTrip8BP50Ns == 150)
        #expect(meta.calibration?.channelRoundTrip64BP99Ns == 410)
        #expect(meta.createdUTC == "2026-11-27T00:00:00Z")
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let again = try JSONSerialization.jsonObject(with: encoder.encode(meta)) as? [String: Any]
        #expect(again?["created_utc"] as? String == "2026-11-27T00:00:00Z")
        #expect((again?["calibration"] as? [String: Any])?["channel_round_trip8_bp50_ns"] as? Double == 150)
    }

    @Test("a folder that is not a set, or a set with a file missing or foreign, is refused with the file named")
    func refusals() throws {
        let empty = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(throws: ReportError.self) { try StoredResultSet(path: empty) }
        #expect(throws: ReportError.self) { try StoredResultSet(path: empty + "/nowhere") }
        var s = SyntheticSet()
        s.scenario("k", [:], "p99_us", [1, 2])
        let folder = try s.write()
        #expect((try? StoredResultSet(path: folder)) != nil)
        try "a,b\n1,2\n".write(toFile: "\(folder)/runs.csv", atomically: true, encoding: .utf8)
        do {
            _ = try StoredResultSet(path: folder)
            Issue.record("read a runs.csv from elsewhere")
        } catch {
            #expect(error.description.contains("runs.csv"))
        }
    }

    @Test("CSV: quoted fields keep commas, quotes and line breaks; a short row is refused with its line")
    func csv() throws {
        let table = try CSVTable(text: "a,b\n\"x,1\",\"say \"\"hi\"\"\"\n\"two\nlines\",3\n", file: "t.csv")
        #expect(table.rows == [["x,1", "say \"hi\""], ["two\nlines", "3"]])
        do {
            _ = try CSVTable(text: "a,b\n1,2\n3\n", file: "t.csv")
            Issue.record("read a short row")
        } catch {
            #expect("\(error)".hasPrefix("t.csv:3:"))
        }
    }
}
