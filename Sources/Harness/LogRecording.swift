import Foundation
import GuestVM
import LogTrace

/// `ftbench run --record-log DIR`: every FT scenario's log, as its backup received it, streamed
/// to a trace file of its own in `directory`, named for the scenario and round
/// (`kvstore-lan-output-aware:64-20000rps-r1.fttrace`, with `-2`, `-3` ... when taken).
public struct LogRecording: Sendable {
    public var directory: String

    public init(directory: String) { self.directory = directory }

    /// Creates the trace file of `scenario` in `round` (counted from 0) and writes its header.
    func writer(for scenario: Scenario, round: Int) throws -> TraceWriter {
        let o = scenario.options
        let memory: Int = try Machine.memorySize(for: scenario.program, vcpus: scenario.vcpus, requested: scenario.memory)
        let seconds: Double = Date().timeIntervalSince1970
        let recordedAt = UInt64(max(0, seconds) * 1e9)
        let revision: String = BuildRevision.dirty ? BuildRevision.commit + "-dirty" : BuildRevision.commit
        let header = TraceHeader(
            isaVersion: Machine.isaVersion, vcpus: scenario.vcpus, memorySize: memory, quantum: o.quantum, seed: o.seed,
            programHash: scenario.programHash, recordedAt: recordedAt, ftbenchVersion: ResultSet.ftbenchVersion,
            buildRevision: revision, programName: scenario.workload, channelProfile: o.profile.description,
            ackPolicy: o.ackPolicy.description)
        let program: String = (scenario.workload as NSString).lastPathComponent.replacingOccurrences(of: ".s", with: "")
        var parts: [String] = [program, o.profile.name, o.ackPolicy.description]
        if let rate = scenario.rate, !scenario.arrivals.isClosed { parts.append(Format.number(rate) + "rps") }
        parts.append("r\(round + 1)")
        let base = Self.fileName(parts.joined(separator: "-"))
        for attempt in 1...1_000 {
            let suffix: String = attempt == 1 ? "" : "-" + String(attempt)
            let path: String = directory + "/" + base + suffix + ".fttrace"
            guard access(path, F_OK) != 0 else { continue }
            return try TraceWriter(path: path, header: header)
        }
        throw ResultSetError("cannot find a free name for the trace " + directory + "/" + base + ".fttrace (1,000 taken)")
    }

    /// Letters, digits, '.', '_', '-', ':' kept; anything else becomes '_'.
    static func fileName(_ text: String) -> String {
        let kept: Set<Character> = [".", "_", "-", ":"]
        return String(text.map { (c: Character) -> Character in c.isASCII && (c.isLetter || c.isNumber || kept.contains(c)) ? c : "_" })
    }
}
