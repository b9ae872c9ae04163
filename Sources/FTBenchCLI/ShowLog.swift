import ArgumentParser
import Harness
import LogChannel
import LogTrace

struct ShowLog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Print a log trace (from `ftbench run --record-log`): its header, its entries, and what each kind of entry costs.",
        discussion: """
            One line per entry: seq, vCPU, instruction count, kind, payload. Then a summary per \
            kind: entries, bytes (as encoded on the channel) and share of the log's bytes, over \
            the whole trace whatever --around and --kind select. Every entry is checked as it is \
            read (checksum, chain, sequence, end-of-log); the first defect ends the listing with \
            a one-line error naming its byte offset and seq, and a non-zero exit.
            """)

    @Argument(help: "A trace file (.fttrace).")
    var trace: String

    @Option(parsing: .unconditional, help: "Print only the entries within 8 of this seq.")
    var around: UInt64?

    @Option(help: "Print only entries of this kind: \(LogEntryKind.allCases.map { "\($0)" }.joined(separator: ", ")).")
    var kind: String?

    func validate() throws {
        if let kind, !LogEntryKind.allCases.contains(where: { "\($0)" == kind }) {
            throw ValidationError("--kind '\(kind)' is not a kind of log entry: \(LogEntryKind.allCases.map { "\($0)" }.joined(separator: ", "))")
        }
    }

    func run() throws {
        let file = try TraceListing.open(trace)
        print(TraceListing.headerLines(file).map { "# " + $0 }.joined(separator: "\n"))
        var reader = file.records()
        var counts: [LogEntryKind: (entries: Int, bytes: Int)] = [:]
        var total = 0
        let range = around.map { ($0 >= 8 ? $0 - 8 : 0) ... $0 &+ 8 }
        do {
            while let record = try reader.next() {
                let entry = record.entry
                let bytes = record.size - 4
                counts[entry.header.kind, default: (0, 0)].entries += 1
                counts[entry.header.kind, default: (0, 0)].bytes += bytes
                total += bytes
                if range.map({ $0.contains(entry.header.seq) }) ?? true, kind.map({ $0 == "\(entry.header.kind)" }) ?? true {
                    print(TraceListing.line(entry))
                }
            }
        } catch {
            throw CLIError(error.description)
        }
        var rows = [["kind", "entries", "bytes", "share"]]
        for k in LogEntryKind.allCases {
            guard let c = counts[k] else { continue }
            rows.append(["\(k)", "\(c.entries)", "\(c.bytes)", Format.fixed(100 * Double(c.bytes) / Double(max(total, 1)), 1) + "%"])
        }
        rows.append(["total", "\(counts.values.reduce(0) { $0 + $1.entries })", "\(total)", "100.0%"])
        print("")
        print(Format.table(rows) { $0 == 0 })
    }
}
