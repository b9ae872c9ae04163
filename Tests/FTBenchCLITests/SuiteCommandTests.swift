import Foundation
import Harness
import Testing
import Topology

@testable import FTBenchCLI

/// `ftbench suite`, `chart` and `compare`, and scripts/profile.sh, as a user meets them.
@Suite("Suite, chart and compare commands")
struct SuiteCommandTests {
    let cli = CommandLineTests()

    func suiteFile(_ text: String) throws -> String {
        let dir = CommandLineTests.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/mine.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let tiny = """
        description = "two loads, FT off and on"
        repeat = 2
        [defaults]
        duration = 0.2
        warmup = 0.05
        [[scenarios]]
        workload = "kvstore"
        ft = "both"
        rate = [2000, 8000]
        """

    @Test("list suites names every built-in suite; list programs every program")
    func listSuites() throws {
        let suites = try cli.ftbench("list", "suites")
        #expect(suites.status == 0)
        for name in BuiltinSuites.names { #expect(suites.stdout.contains("  \(name) ")) }
        #expect(try cli.ftbench("list", "programs").stdout.contains("kvstore"))
        #expect(try cli.ftbench("list", "nothing").status != 0)
    }

    @Test("--dry-run lists every scenario of every built-in suite and estimates the time, running nothing", arguments: BuiltinSuites.names)
    func dryRun(_ name: String) throws {
        let result = try cli.ftbench("suite", name, "--dry-run")
        #expect(result.status == 0, "\(result.stderr)")
        let last = try #require(result.stdout.split(separator: "\n").last)
        #expect(last.contains(" runs; estimated ") && last.contains("of running"), "\(last)")
    }

    @Test("quick stays within 3 minutes of running by its own estimate")
    func quickBudget() throws {
        let host = HostTopology.current()
        let plan = try SuiteCommand.plan(try SuiteCommand.load("quick"), host: host)
        let seconds = plan.scenarios.map(Rounds.plannedSeconds).reduce(0, +) * 6 + SuiteCommand.calibrationSeconds
        #expect(seconds <= 180, "\(seconds) s")
    }

    @Test("a bad value is reported with the file, the key path and the problem", arguments: [
        ("rate = \"fast\"", "scenarios[1].rate: "), ("ack = [\"every\", \"sometimes\"]", "scenarios[1].ack: "),
        ("ft = \"maybe\"", "scenarios[1].ft: "), ("profile = \"moon\"", "scenarios[1].profile: "),
        ("duration = -1", "scenarios[1].duration: "), ("bogus = 1", "scenarios[1].bogus: "),
    ])
    func badValue(_ line: String, _ path: String) throws {
        let file = try suiteFile("[[scenarios]]\nworkload = \"kvstore\"\n\(line)\n")
        let result = try cli.ftbench("suite", file, "--dry-run")
        #expect(result.status != 0)
        let error = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(error.hasPrefix("Error: \(file): \(path)"), "\(error)")
        #expect(!error.contains("\n"), "one line")
    }

    @Test("a TOML syntax error names the file, line and column")
    func syntax() throws {
        let file = try suiteFile("repeat = 2\n[[scenarios]]\nworkload = \n")
        let result = try cli.ftbench("suite", file, "--dry-run")
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("Error: \(file):3:"), "\(result.stderr)")
    }

    @Test("an unknown suite name is refused, naming the built-in suites")
    func unknown() throws {
        let result = try cli.ftbench("suite", "quik")
        #expect(result.status != 0 && result.stderr.contains("quick, latency"))
    }

    @Test("a suite writes one set with every scenario, suite.toml, charts and index.html; chart remakes them; compare matches it with itself")
    func endToEnd() throws {
        let file = try suiteFile(Self.tiny)
        let out = CommandLineTests.temporaryDirectory()
        let result = try cli.ftbench("suite", file, "--output", out, "--no-calibration")
        #expect(result.status == 0, "\(result.stderr)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: out)
        #expect(sets.count == 1 && sets[0].hasPrefix("mine-"))
        let set = "\(out)/\(sets[0])"
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: set))
        #expect(files.isSuperset(of: ["runs.csv", "histograms.csv", "meta.json", "suite.toml", "index.html", "charts"]))
        #expect(try String(contentsOfFile: "\(set)/runs.csv", encoding: .utf8).split(separator: "\n").count == 1 + 4 * 2, "2 loads x FT off and on, 2 rounds")
        #expect(result.stdout.contains("report: \(set)/index.html"))
        #expect(result.stderr.contains("[8/8"), "progress says scenario i of n")
        let charts = try FileManager.default.contentsOfDirectory(atPath: "\(set)/charts")
        #expect(charts.contains { $0.hasPrefix("load-latency-") } && charts.contains { $0.hasPrefix("spectrum-") })
        let again = try cli.ftbench("chart", set)
        #expect(again.status == 0 && again.stdout.contains("index.html"))
        let same = try cli.ftbench("compare", set, set, "--format", "markdown")
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stdout.contains("| scenario | metric |"))
        #expect(same.stdout.contains("too few repeats"), "two rounds cannot be judged")
    }

    /// A copy of `set` whose runs.csv has every `column` value multiplied by `factor`.
    func scaled(_ set: String, _ column: String, by factor: Double) throws -> String {
        let copy = CommandLineTests.temporaryDirectory()
        try FileManager.default.copyItem(atPath: set, toPath: copy)
        var lines = try String(contentsOfFile: "\(copy)/runs.csv", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let index = try #require(lines[0].split(separator: ",").firstIndex(of: Substring(column)))
        for i in 1..<lines.count where !lines[i].isEmpty {
            var fields = lines[i].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if let v = Double(fields[index]) { fields[index] = String(v * factor) }
            lines[i] = fields.joined(separator: ",")
        }
        try lines.joined(separator: "\n").write(toFile: "\(copy)/runs.csv", atomically: true, encoding: .utf8)
        return copy
    }

    @Test("compare exits 2 when a gating metric regressed and 4 when gating metrics only improved")
    func compareExitCodes() throws {
        let file = try suiteFile(Self.tiny.replacingOccurrences(of: "repeat = 2", with: "repeat = 4"))
        let out = CommandLineTests.temporaryDirectory()
        #expect(try cli.ftbench("suite", file, "--output", out, "--no-calibration").status == 0)
        let set = "\(out)/\(try #require(try FileManager.default.contentsOfDirectory(atPath: out).first))"
        // Half the achieved rate: rounds of one scenario differ by a few percent at most, so the
        // halved rounds all fall below the others (a p99 can vary tenfold between rounds).
        let slower = try scaled(set, "achieved_rps", by: 0.5)
        let regressed = try cli.ftbench("compare", set, slower)
        #expect(regressed.status == 2, "\(regressed.stdout)")
        #expect(regressed.stdout.contains("regressed"))
        let improved = try cli.ftbench("compare", slower, set)
        #expect(improved.status == 4, "\(improved.stdout)")
    }

    @Test("compare: unusable input exits 1 with a one-line error")
    func compareUnusable() throws {
        let empty = CommandLineTests.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let result = try cli.ftbench("compare", empty, empty)
        #expect(result.status == 1)
        #expect(result.stderr.contains("meta.json") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(try cli.ftbench("compare", empty, empty, "--threshold", "150%").status != 0)
    }

    /// Main had no suites; a suite cut short must still keep what ran and say it is incomplete.
    @Test("SIGINT during a suite keeps the finished scenarios in a set marked incomplete")
    func interrupted() throws {
        let file = try suiteFile(Self.tiny.replacingOccurrences(of: "repeat = 2", with: "repeat = 50"))
        let dir = CommandLineTests.temporaryDirectory()
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["suite", file, "--output", dir, "--no-calibration"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        // Long enough for a loaded CI host to finish a scenario (each takes about 0.4 s).
        usleep(2_500_000)
        kill(process.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(sets.count == 1 && sets[0].hasSuffix("-incomplete"), "\(sets)")
        let meta = try String(contentsOfFile: "\(dir)/\(sets[0])/meta.json", encoding: .utf8)
        #expect(meta.contains("\"complete\" : false"))
        let runs = try String(contentsOfFile: "\(dir)/\(sets[0])/runs.csv", encoding: .utf8).split(separator: "\n")
        #expect(runs.count >= 2 && runs.count < 1 + 6 * 50)
        let compare = try cli.ftbench("compare", "\(dir)/\(sets[0])", "\(dir)/\(sets[0])")
        #expect(compare.status == 1 && compare.stderr.contains("incomplete"))
    }

    @Test("scripts/profile.sh splits samples by role and writes folded stacks (skipped where perf may not record)")
    func profile() throws {
        let out = CommandLineTests.temporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [CommandLineTests.repositoryRoot.appendingPathComponent("scripts/profile.sh").path, "run", "--workload", "kvstore",
                             "--ft", "on", "--rate", "5000", "--duration", "0.5", "--warmup", "0.1", "--repeat", "1", "--no-calibration"]
        var environment = ProcessInfo.processInfo.environment
        environment["PROFILE_OUT"] = out
        environment["FTBENCH_BIN"] = CommandLineTests.executable.path
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice  // never read: a pipe could fill, or close under perf
        try process.run()
        let stdout = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 77 {
            print("profile.sh: skipped, perf may not record on this machine")
            return
        }
        #expect(process.terminationStatus == 0)
        #expect(stdout.contains("== primary: ") && stdout.contains("== backup: "), "\(stdout)")
        #expect(stdout.contains("waiting") && stdout.contains("working"))
        let folded = try String(contentsOfFile: "\(out)/folded.txt", encoding: .utf8)
        #expect(folded.split(separator: "\n").contains { $0.hasPrefix("primary;") && $0.last!.isNumber })
    }
}
