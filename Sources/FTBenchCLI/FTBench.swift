import ArgumentParser

/// The `ftbench` command line. Only this module knows about argument parsing.
public struct FTBench: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ftbench",
        abstract: "Measure what it costs to keep a backup VM in lockstep with a primary (VMware FT style).",
        version: "0.1.0",
        subcommands: [Run.self, SuiteCommand.self, ChartCommand.self, CompareCommand.self, ReplayTrace.self, ShowLog.self, Exec.self, Asm.self, List.self, ISA.self, Calibrate.self]
    )

    public init() {}

    /// The process's allocator, recorded in meta.json (the executable links jemalloc and says so).
    nonisolated(unsafe) public static var allocator = "system malloc"

    /// Runs the command line. An `exec` line is parsed by `Exec` alone when it parses cleanly:
    /// building the parser of every subcommand, with the dynamic casts ArgumentParser makes for
    /// each option, took about 6 ms of the 14 ms that `ftbench exec` of a trivial program took
    /// here (perf; docs/INTERPRETER.md, "Start-up"). Any other line, and an `exec` line that does
    /// not parse (`--help`, a bad option), goes through the full parser, so every message and
    /// exit code is the one `main()` gives.
    public static func runCommandLine() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.first == "exec", let exec = try? Exec.parse(Array(arguments.dropFirst())) else {
            main()
            return
        }
        do {
            try exec.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// A failure the user can act on, printed as one line ("Error: ...") with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
