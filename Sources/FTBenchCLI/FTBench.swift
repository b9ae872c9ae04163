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

    /// Runs the command line. A plain `exec` line is read by `ExecRequest.quickParse`, without
    /// building the full parser (a third of `ftbench exec`'s CPU time for a trivial program;
    /// docs/INTERPRETER.md, "Start-up"). Any other line, and an `exec` line it does not take
    /// (`--help`, a bad option), goes through the full parser, so every message and exit code is
    /// the one `main()` gives.
    public static func runCommandLine() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.first == "exec", let request = ExecRequest.quickParse(Array(arguments.dropFirst())) else {
            main()
            return
        }
        do {
            try request.run()
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
