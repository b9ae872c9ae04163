import ArgumentParser
import GuestVM
import Harness
import LogChannel
import LogTrace
import Replication
import Topology

struct ReplayTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a log trace (from `ftbench run --record-log`) offline on a fresh machine, as the backup did.",
        discussion: """
            The machine gets the trace's vCPUs, memory and quantum; the program is the one the \
            trace names (a built-in, or the file it was recorded from) unless --program gives \
            it, and its code hash must match the trace's. Every output is checked against the \
            primary's output hash and the final state against the end-of-log entry's state \
            hash. Exits 0 and prints entries, instructions, wall time and replay speed; or \
            prints the first divergence with the 8 entries before it, or the trace's first \
            defect with its byte offset and seq, and exits non-zero.
            """)

    @Argument(help: "A trace file (.fttrace).")
    var trace: String

    @Option(help: "The program the trace was recorded from: a built-in name or an assembly file (default: the name in the trace).")
    var program: String?

    @OptionGroup var defines: DefineOptions

    func run() throws {
        let file = try TraceListing.open(trace)
        let name = program ?? file.header.programName
        let loaded: Program
        do { loaded = try ProgramLoader.load(name, defines: try defines.values()).program } catch {
            throw CLIError(program == nil
                ? "\(trace): recorded from '\(name)', which cannot be loaded (\(error)); give the program with --program FILE"
                : "--program: \(error)")
        }
        print(TraceListing.headerLines(file).joined(separator: "\n"))
        let start = monotonicNanos()
        let outcome: Replay.Outcome
        do {
            outcome = try Replay.run(trace: file, program: loaded)
        } catch let divergence as Divergence {
            report(divergence, in: file)
            throw CLIError("\(trace): \(divergence)")
        } catch {
            throw CLIError("\(error)")
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        print("replayed \(outcome.entriesReplayed) entries (heartbeats aside), \(outcome.instructions) guest instructions, \(outcome.outputsChecked) outputs checked")
        print("wall time \(Format.fixed(seconds, 3)) s, replay speed \(Format.fixed(Double(outcome.instructions) / seconds / 1e6, 1)) guest MIPS")
        print("final state hash \(Format.hex(outcome.stateHash)) matches the end-of-log entry's")
    }

    /// Prints where the replay diverged, with the 8 entries before it.
    func report(_ d: Divergence, in file: TraceFile) {
        print("replay diverged at log entry #\(d.seq) (\(d.kind.map { "\($0)" } ?? "no entry")), vCPU \(d.vcpu), instruction \(d.instructionCount):")
        print("  \(d.reason)")
        if let logged = d.logged { print("  the log has:   \(logged)") }
        if let replayed = d.replayed { print("  the replay:    \(replayed)") }
        print("the 8 entries before it, and it:")
        var reader = file.records()
        var recent: [String] = []
        // The trace read this far before, so it reads again without error.
        while let record = try? reader.next(), record.entry.header.seq <= d.seq {
            recent.append((record.entry.header.seq == d.seq ? "> " : "  ") + TraceListing.line(record.entry))
            if recent.count > 9 { recent.removeFirst() }
        }
        print(recent.joined(separator: "\n"))
    }
}
