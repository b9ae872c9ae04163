import ArgumentParser
import Foundation
import Harness
import Reporting

/// What `ftbench run` and `ftbench suite` do once their rounds end: calibrate the channel, write
/// the result set with its charts and report, print the summary, and exit with the status the
/// results call for (130 interrupted, 1 when a scenario failed, diverged or stalled).
struct ResultSetOutput {
    var output: String
    var name: String
    var placement: Placement
    var calibrate: Bool
    var settings: [String: String]
    /// Scenario runs planned (nil: as many as ran, for a sweep).
    var planned: Int?
    var oversubscribed: Bool
    /// Files written into the set beside the data (a suite's `suite.toml`).
    var extraFiles: [(String, Data)] = []

    /// What `--name` may be: 1-100 letters, digits, '.', '_' or '-', not starting with '.' (a
    /// folder name on any file system, never hidden, never a path).
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 100 && name.allSatisfy(isNameCharacter) && !name.hasPrefix(".")
    }

    static func isNameCharacter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || "._-".contains(c)) }

    static let nameRule = "--name must be 1-100 letters, digits, '.', '_' or '-' (not starting with '.')"

    func finish(_ results: [ScenarioResult], interrupted: Bool) throws {
        let calibration = !calibrate || interrupted ? nil
            : placement.calibrationPair.map { Calibration.measure(cpus: $0, samples: 300, entries: 2_000_000) }
        var meta = ResultSet.Meta(commandLine: CommandLine.arguments, settings: settings, calibration: calibration,
                                  allocator: FTBench.allocator, planned: planned ?? results.count, complete: !interrupted)
        meta.scenariosRun = results.count
        meta.placement = placement.record
        meta.oversubscribed = oversubscribed
        meta.scenariosFailed = results.filter { $0.status != .ok }.count
        let set = ResultSet(results: results, meta: meta)
        // The charts and the report are made from the files as written, before the folder takes
        // its name; if they cannot be made the data still lands, with a warning.
        let folder = try set.write(into: output, name: name, extraFiles: extraFiles) { partial in
            do { try Report.write(into: partial) } catch {
                FileHandle.standardError.write(Data("ftbench: warning: no charts or report: \(error)\n".utf8))
            }
        }
        print(SummaryTable.render(set))
        print("results: \(folder)")
        print("report: \(folder)/index.html")
        if interrupted {
            FileHandle.standardError.write(Data("ftbench: interrupted after \(results.count) scenario(s); the result set is marked incomplete\n".utf8))
            throw ExitCode(130)
        }
        let bad = results.filter { $0.status != .ok }
        if let first = bad.first {
            throw CLIError("\(bad.count) of \(results.count) scenario(s) \(bad.allSatisfy { $0.status == .diverged } ? "diverged" : "failed, diverged or stalled"); first: \(describeScenario(first.scenario)): \(first.error ?? "")")
        }
    }
}
