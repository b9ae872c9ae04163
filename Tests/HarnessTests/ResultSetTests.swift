import Foundation
import GuestVM
@testable import Harness
import LogChannel
import Replication
import Testing
import TestScratch

@Suite("ResultSet")
struct ResultSetTests {
    /// `kvstore` at 10,000 requests/s, or, with `clients: false`, `compute` alone (its FT ratio
    /// is of guest MIPS).
    static func result(ft: Bool, clients: Bool = true) throws -> ScenarioResult {
        var options = ReplicationOptions()
        options.faultTolerance = ft
        options.profile = .loopback
        options.durationNanos = 150_000_000
        options.warmupNanos = 50_000_000
        let workload = clients ? "kvstore" : "compute"
        let program = try #require(try BuiltinPrograms.program(named: workload))
        return ScenarioRunner.run(Scenario(workload: workload, program: program, vcpus: 1, options: options,
                                           rate: clients ? 10_000 : nil, arrivals: .poisson))
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
        // The ratio is the FT-on achieved rate over its FT-off twin's (timing-dependent figures,
        // so the arithmetic is checked, not a range).
        let expected = results[1].achievedRate / results[0].achievedRate
        #expect(Double(column("ft_ratio")).map { abs($0 - expected) < 1e-4 } == true, "\(lines[1])\n\(lines[2])")
        #expect(column("divergences") == "0")
        // kvstore idles between requests: its slices end at `wfi` long before 10,000
        // instructions, so no slice is timed and the core columns stay empty (the run without
        // clients below has them).
        for name in ["primary_core_ns", "backup_core_ns", "core_ratio", "ft_ratio_per_core", "primary_speed_ratio"] {
            #expect(column(name).isEmpty, "\(name): \(lines[2])")
        }
        let curve = set.latencyCSV().split(separator: "\n")
        #expect(curve.count == 1 + 2 * ResultSet.curve.count)
    }

    @Test("without clients the FT ratio is also read against the two sides' core speeds")
    func perCore() throws {
        var results = [try Self.result(ft: false, clients: false), try Self.result(ft: true, clients: false)]
        ScenarioRunner.attachRatios(&results)
        let on = results[1]
        let ftRatio = try #require(on.ftRatio), core = try #require(on.report.coreRatio)
        #expect(core == on.report.primaryCoreNanos! / on.report.backupCoreNanos!)
        #expect(on.ftRatioPerCore == ftRatio / min(1, core))
        #expect(results[0].ftRatioPerCore == nil, "FT off has no backup")
        // The primary's core on the guest with the backup busy beside it, against its FT-off twin.
        let twinCore = try #require(results[0].report.primaryCoreNanos)
        #expect(on.primarySpeedRatio == twinCore / on.report.primaryCoreNanos!)
        #expect(results[0].primarySpeedRatio == nil)
    }

    @Test("results/README.md documents every column of every file")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("results/README.md"), encoding: .utf8)
        for column in ResultSet.runsHeader + ResultSet.latencyHeader + ResultSet.summaryHeader
            + ResultSet.faultsHeader + ResultSet.timelineHeader + ResultSet.histogramsHeader { #expect(doc.contains("`\(column)`"), "\(column) is not documented") }
    }

    @Test("a result set is written whole, into a folder that appears only when complete")
    func atomicWrite() throws {
        let dir = Scratch.path("results")
        let set = ResultSet(results: [try Self.result(ft: true)], meta: .init(commandLine: ["test"], calibration: nil))
        let folder = try set.write(into: dir, name: "unit")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["faults.csv", "histograms.csv", "latency.csv", "meta.json", "runs.csv", "summary.csv", "timeline.csv"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasSuffix(".partial") })
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/meta.json"))) as? [String: Any]
        #expect((meta?["machine"] as? [String: Any])?["cpus"] != nil)
    }

    @Test("an unwritable output directory is refused before the run")
    func unwritable() {
        #expect(throws: ResultSetError.self) { try ResultSet.checkWritable("/proc/ftbench-cannot-exist") }
    }
}

/// Defects of main's result sets, each with the test that failed before its fix.
@Suite("ResultSet: fixed defects")
struct ResultSetDefectTests {
    static func scenario(_ profile: String = "lan", ft: Bool = true, rate: Double? = 10_000, arrivals: Arrivals = .poisson,
                         ack: String = "output-aware", workload: String = "kvstore") throws -> Scenario {
        var options = ReplicationOptions()
        options.faultTolerance = ft
        options.profile = try ChannelProfile.parse(profile)
        options.ackPolicy = try AckPolicy.parse(ack)
        let program = try #require(try BuiltinPrograms.program(named: "kvstore"))
        return Scenario(workload: workload, program: program, vcpus: 1, options: options, rate: rate, arrivals: arrivals)
    }

    static func row(_ set: ResultSet, _ index: Int = 0) -> [String: String] {
        let rows = parseCSV(set.runsCSV())
        return Dictionary(uniqueKeysWithValues: zip(rows[0], rows[index + 1]))
    }

    /// RFC 4180: fields separated by commas, quoted fields may hold commas, quotes ("") and
    /// line breaks.
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, chars = Array(text), i = 0
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { field.append("\""); i += 1 } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" {
                row.append(field); field = ""; rows.append(row); row = []
            } else { field.append(c) }
            i += 1
        }
        return rows
    }

    static func set(_ results: [ScenarioResult]) -> ResultSet {
        ResultSet(results: results, meta: .init(commandLine: ["test"], calibration: nil))
    }

    static func temporaryDirectory() -> String {
        Scratch.path("results")
    }

    @Test("values are written exactly: no rounding of rates, bandwidths, jitter or ACK intervals")
    func exactValues() throws {
        let s = try Self.scenario("lan,bw=100kbit,jitter=normal:500ns", rate: 0.5, ack: "interval:1500ns")
        let row = Self.row(Self.set([.failed(s, round: 0, "not run")]))
        #expect(row["offered_rps"] == "0.5")
        #expect(row["bandwidth_bit_s"] == "100000")
        #expect(row["jitter"] == "normal:500ns")
        #expect(row["ack_policy"] == "interval:1500ns")
        #expect(row["one_way_us"] == "45")
        #expect(try AckPolicy.parse("interval:1500ns") == .interval(nanos: 1_500), "the policy runs at 1.5 µs, not 1 µs")
    }

    @Test("settings that do not apply are empty: the channel of FT off, the rate of a closed loop")
    func emptyWhereUnused() throws {
        let off = Self.row(Self.set([.failed(try Self.scenario(ft: false), round: 0, "x")]))
        #expect(off["channel_profile"] == "" && off["one_way_us"] == "" && off["ack_policy"] == "" && off["bandwidth_bit_s"] == "")
        let closed = Self.row(Self.set([.failed(try Self.scenario(arrivals: .closed(outstanding: 4)), round: 0, "x")]))
        #expect(closed["offered_rps"] == "")
        #expect(closed["arrivals"] == "closed:4")
        let unlimited = Self.row(Self.set([.failed(try Self.scenario("lan,bw=unlimited"), round: 0, "x")]))
        #expect(unlimited["bandwidth_bit_s"] == "", "no 'unlimited' among numbers")
    }

    @Test("a failed scenario keeps a row with its status and error")
    func failedRow() throws {
        let row = Self.row(Self.set([.failed(try Self.scenario(), round: 2, "primary: guest fault, here")]))
        #expect(row["status"] == "failed")
        #expect(row["round"] == "2")
        let csv = Self.set([.failed(try Self.scenario(), round: 2, "primary: guest fault, here")]).runsCSV()
        #expect(csv.contains("\"primary: guest fault, here\""))
    }

    @Test("a field with a line break, comma or quote is quoted, so the CSV keeps its rows")
    func quoting() throws {
        let s = try Self.scenario(workload: "odd\nname,with \"quotes\".s")
        let csv = Self.set([.failed(s, round: 0, "x")]).runsCSV()
        #expect(csv.contains("\"odd\nname,with \"\"quotes\"\".s\""))
        let rows = Self.parseCSV(csv)
        #expect(rows.count == 2 && rows[1].count == ResultSet.runsHeader.count)
        #expect(rows[1][ResultSet.runsHeader.firstIndex(of: "workload")!] == "odd\nname,with \"quotes\".s")
        #expect(ResultSet.csvField("a\rb") == "\"a\rb\"")
    }

    /// Main named a set by the second it ended in; a second run ending in the same second failed
    /// after all its work and left its results in a `.partial` folder.
    @Test("two sets with the same name written in the same second both land, under different names")
    func uniqueNames() throws {
        let dir = Self.temporaryDirectory()
        let set = Self.set([.failed(try Self.scenario(), round: 0, "x")])
        let folders = try (0..<3).map { _ in try set.write(into: dir, name: "same") }
        #expect(Set(folders).count == 3)
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(entries.count == 3 && entries.allSatisfy { !$0.hasSuffix(".partial") })
    }

    /// Main reused an existing `.partial` folder and wrote through a symbolic link planted in
    /// it. The partial folder is now created exclusively and files are never followed links.
    @Test("a planted .partial folder with a symbolic link is neither reused nor followed")
    func plantedPartial() throws {
        let dir = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let victim = dir + "/victim.txt"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
        // Plant the folder the next write would use for every second of the coming minute.
        var planted: [String] = []
        for offset in 0..<60 {
            let stamp = ResultSet.timestamp(Date().addingTimeInterval(Double(offset)), compact: true)
            let partial = "\(dir)/planted-\(stamp).partial"
            try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: false)
            try FileManager.default.createSymbolicLink(atPath: partial + "/runs.csv", withDestinationPath: victim)
            planted.append(partial)
        }
        let folder = try Self.set([.failed(try Self.scenario(), round: 0, "x")]).write(into: dir, name: "planted")
        #expect(!planted.contains(folder + ".partial"))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
        #expect(try String(contentsOfFile: folder + "/runs.csv", encoding: .utf8).hasPrefix("row,"))
    }

    @Test("an interrupted set says so in its name and in meta.json")
    func incomplete() throws {
        var set = Self.set([.failed(try Self.scenario(), round: 0, "x")])
        set.meta.complete = false
        let folder = try set.write(into: Self.temporaryDirectory(), name: "cut")
        #expect(folder.hasSuffix("-incomplete"))
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/meta.json"))) as? [String: Any]
        #expect(meta?["complete"] as? Bool == false)
        #expect(meta?["schema_version"] as? Int == ResultSet.schemaVersion)
    }

    /// meta.json's revision comes from the build, not from wherever the run starts.
    @Test("meta.json records the commit this code was built from")
    func buildRevision() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root.path, "rev-parse", "HEAD"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let head = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        let meta = ResultSet.Meta(commandLine: [], calibration: nil)
        if process.terminationStatus == 0 {
            #expect(meta.build.commit == head)
        } else {
            #expect(meta.build.commit == "unknown", "built outside a git checkout")
        }
    }
}

@Suite("MedianInterval")
struct MedianIntervalTests {
    @Test("six or more values give a 95% order-statistic interval")
    func ranks() throws {
        let six = try #require(MedianInterval([6, 1, 5, 2, 4, 3]))
        #expect(six.median == 3.5 && six.low == 1 && six.high == 6)
        #expect(abs(six.coverage - 0.96875) < 1e-9)
        let values = (1...20).map(Double.init)
        let twenty = try #require(MedianInterval(values))
        // For n = 20 the 95% ranks are 6 and 15 (coverage 0.9586).
        #expect(twenty.low == 6 && twenty.high == 15)
        #expect(twenty.coverage >= 0.95)
    }

    @Test("below six values the range is reported with its real coverage")
    func small() throws {
        let five = try #require(MedianInterval([5, 3, 1, 4, 2]))
        #expect(five.low == 1 && five.high == 5 && abs(five.coverage - 0.9375) < 1e-9)
        #expect(MedianInterval([7])?.median == 7)
        for n in 2...9 { #expect(MedianInterval((1...n).map(Double.init)) != nil, "n = \(n)") }
        #expect(MedianInterval([1, 2, 3])?.low == 1)
        #expect(MedianInterval([]) == nil)
    }
}
