import ArgumentParser
import Foundation
import Harness
import Topology

struct SuiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "Run a benchmark suite (built-in or a TOML file) into one result set with charts and a report.",
        discussion: """
            NAME is a built-in suite (ftbench list suites) or a suite file (docs/SUITES.md). Every \
            scenario of every group runs once per round, in rotated rounds, as `ftbench run` \
            would; the set gains suite.toml (the suite as it ran), charts/ and index.html. \
            The first SIGINT or SIGTERM stops after the current scenario and writes what completed, \
            marked incomplete (complete: false in meta.json, the folder ending in -incomplete); a \
            second ends the process at once.
            """)

    @Argument(help: "A built-in suite's name or a suite file's path.")
    var suite: String

    @Flag(help: "List the scenarios and estimate the running time; run nothing.")
    var dryRun = false

    @Flag(help: "Print the suite's TOML (a built-in suite as a file to copy and edit); run nothing.")
    var print = false

    @Option(help: "Directory for result sets.")
    var output = "results"

    @Option(help: "Name of the result set (default: the suite's name).")
    var name: String?

    @Option(parsing: .unconditional, help: "Rounds, overriding the suite's repeat (1-1000).")
    var `repeat`: Int?

    @Option(help: "Record each FT scenario's log to a trace file in this directory.")
    var recordLog: String?

    @Flag(help: "Skip the calibration stored in meta.json (saves ~2 s).")
    var noCalibration = false

    func validate() throws {
        if let r = `repeat`, !(1...1_000).contains(r) { throw ValidationError("--repeat must be 1...1000, got \(r)") }
        if let name, !ResultSetOutput.isValidName(name) { throw ValidationError(ResultSetOutput.nameRule) }
    }

    func run() throws {
        let loaded = try Self.load(suite)
        if print {
            Swift.print(loaded.text, terminator: loaded.text.hasSuffix("\n") ? "" : "\n")
            return
        }
        let host = HostTopology.current()
        let plan = try Self.plan(loaded, host: host)
        let repeats = `repeat` ?? loaded.repeats
        let runs = plan.scenarios.count * repeats
        let seconds = plan.scenarios.map(Rounds.plannedSeconds).reduce(0, +) * Double(repeats) + (noCalibration ? 0 : Self.calibrationSeconds)
        if dryRun {
            Swift.print("Suite \(loaded.name) (\(loaded.source)): \(loaded.description)")
            var group = ""
            for (i, s) in plan.scenarios.enumerated() {
                if plan.groups[i] != group {
                    group = plan.groups[i]
                    Swift.print(group)
                }
                Swift.print("  \(i + 1). \(describeScenario(s)), \(Format.number(Double(s.options.durationNanos) / 1e9)) s")
            }
            for note in plan.notes { Swift.print("note: \(note)") }
            Swift.print("\(plan.scenarios.count) scenarios x \(repeats) rounds = \(runs) runs; estimated \(Rounds.duration(seconds)) of running (build excluded)")
            return
        }
        try ResultSet.checkWritable(output)
        if let recordLog { try ResultSet.checkWritable(recordLog) }
        for note in plan.notes { FileHandle.standardError.write(Data("ftbench: note: \(note)\n".utf8)) }
        FileHandle.standardError.write(Data("ftbench: suite \(loaded.name): \(runs) runs, about \(Rounds.duration(seconds))\n".utf8))
        let oversubscribed = plan.scenarios.contains { $0.isOversubscribed(cpuCount: host.cpuCount) }
        var (results, interrupted) = Rounds(scenarios: plan.scenarios, repeats: repeats, seedPerRound: loaded.seedPerRound,
                                            recording: recordLog.map(LogRecording.init(directory:))).run()
        ScenarioRunner.attachRatios(&results)
        var settings = ["suite": loaded.name, "source": loaded.source, "repeat": String(repeats), "seed-per-round": String(loaded.seedPerRound),
                        "output": output, "calibration": noCalibration ? "skipped" : "measured", "record-log": recordLog ?? ""]
        for (i, g) in loaded.groups.enumerated() {
            settings["group \(i + 1)"] = (g.title.isEmpty ? "" : g.title + ": ") + g.arguments.joined(separator: " ")
        }
        let writer = ResultSetOutput(output: output, name: name ?? loaded.name, placement: plan.placement, calibrate: !noCalibration,
                                     settings: settings, planned: runs, oversubscribed: oversubscribed,
                                     extraFiles: [("suite.toml", Data(loaded.text.utf8))])
        try writer.finish(results, interrupted: interrupted)
    }

    /// `Calibration.measure` with the settings `finish` uses takes about this long here.
    static let calibrationSeconds = 3.0

    /// A built-in suite by name, else a suite file.
    static func load(_ nameOrPath: String) throws -> Suite {
        if let text = BuiltinSuites.text(of: nameOrPath) {
            return try Suite.parse(text, name: nameOrPath, file: nameOrPath, source: "built-in")
        }
        guard nameOrPath.contains("/") || nameOrPath.hasSuffix(".toml") else {
            throw CLIError("'\(nameOrPath)' is not a built-in suite (\(BuiltinSuites.names.joined(separator: ", "))) nor a suite file (a path, or a name ending in .toml)")
        }
        guard let data = FileManager.default.contents(atPath: nameOrPath) else { throw CLIError("\(nameOrPath): cannot read the suite file") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(nameOrPath): not UTF-8 text") }
        // The set is named after the file, its characters made valid for a name.
        let file = URL(fileURLWithPath: nameOrPath).deletingPathExtension().lastPathComponent
        let base = String(String(file.map { ResultSetOutput.isNameCharacter($0) ? $0 : "-" }).prefix(100))
        return try Suite.parse(text, name: ResultSetOutput.isValidName(base) ? base : "suite", file: nameOrPath, source: nameOrPath)
    }

    struct Plan {
        var scenarios: [Scenario] = []
        /// Each scenario's group heading, for the dry run.
        var groups: [String] = []
        var placement: Placement
        var notes: [String] = []
    }

    /// Every group's scenarios, each group's options checked as `ftbench run` checks them, with
    /// a problem reported at the key that caused it.
    static func plan(_ suite: Suite, host: HostTopology) throws -> Plan {
        var plan: Plan?
        var seen: [String: String] = [:]
        for group in suite.groups {
            // Each key alone first, so that a bad value is reported where it is written.
            for option in group.options {
                do { _ = try Run.parse(option.arguments) } catch {
                    throw CLIError("\(option.location): \(message(error))")
                }
            }
            let command: Run
            do { command = try Run.parse(group.arguments) } catch {
                throw CLIError("\(group.location): \(message(error))")
            }
            let placement: Placement
            let scenarios: [Scenario]
            do {
                placement = try Placement(primaryCPUs: command.primaryCPUs, backupCPUs: command.backupCPUs, primaryNode: command.primaryNode,
                                          backupNode: command.backupNode, host: host)
                scenarios = try command.buildScenarios(placement: placement)
            } catch {
                // Errors name the option they concern (`--rate: ...`): point at its key.
                let text = "\(error)"
                let key = group.options.first { text.hasPrefix($0.arguments[0] + ":") || text.hasPrefix($0.arguments[0] + " ") }
                throw CLIError("\(key?.location ?? group.location): \(text)")
            }
            if plan == nil { plan = Plan(placement: placement) }
            let heading = group.location + (group.title.isEmpty ? "" : ": \(group.title)")
            for s in scenarios {
                if let other = seen[s.key] {
                    plan!.notes.append("\(describeScenario(s)) of \(group.location) is also in \(other): it runs once")
                    continue
                }
                seen[s.key] = group.location
                plan!.scenarios.append(s)
                plan!.groups.append(heading)
            }
        }
        return plan!
    }

    /// An argument parser's error as one line, without its usage text.
    static func message(_ error: Error) -> String {
        let text = Run.message(for: error)
        return text.split(separator: "\n").first.map(String.init)?.replacingOccurrences(of: "Error: ", with: "") ?? text
    }
}
