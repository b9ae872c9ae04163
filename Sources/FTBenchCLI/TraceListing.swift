import GuestVM
import Harness
import LogChannel
import LogTrace

/// How `ftbench log` and `ftbench replay` print a trace: its header and its entries, one line
/// each (seq, vCPU, instruction count, kind, payload).
enum TraceListing {
    /// Opens `path` as a trace, every check on; a defect is a `CLIError` naming its location.
    static func open(_ path: String) throws -> TraceFile {
        do { return try TraceFile(path: path) } catch { throw CLIError(error.description) }
    }

    static func headerLines(_ trace: TraceFile) -> [String] {
        let h = trace.header
        return [
            "trace \(trace.path): \(trace.byteCount) bytes, format \(TraceHeader.formatVersion), guest ISA version \(h.isaVersion)",
            "program \(h.programName) (code hash \(Format.hex(h.programHash))), \(h.vcpus) vCPU(s), \(h.memorySize) bytes of memory, quantum \(h.quantum), seed \(h.seed)",
            "recorded by ftbench \(h.ftbenchVersion) (\(h.buildRevision)) at \(ResultSet.timestamp(.init(timeIntervalSince1970: Double(h.recordedAt) / 1e9), compact: false)) over \(h.channelProfile), ACK \(h.ackPolicy)",
        ]
    }

    /// `#seq  vcpu  instruction count  kind  payload`, aligned.
    static func line(_ entry: LogEntryView) -> String {
        let h = entry.header
        var flags = ""
        if h.flags.contains(.precedesOutput) { flags += " [precedes output]" }
        if h.flags.contains(.acknowledgeNow) { flags += " [ack now]" }
        return pad("#\(h.seq)", 10) + pad("vcpu \(h.vcpu)", 8) + pad("@\(h.instructionCount)", 16) + pad("\(h.kind)", 14)
            + payload(entry) + flags
    }

    static func payload(_ entry: LogEntryView) -> String {
        let value = entry.value
        switch entry.header.kind {
        case .interrupt:
            return entry.payload.first.map { "line \(Interrupt(rawValue: $0).map { "\($0)" } ?? "\($0) (invalid)")" } ?? "no line"
        case .dmaData, .clientRequest:
            let shown = entry.payload.prefix(16).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
            return "\(entry.payload.count) bytes: \(shown)\(entry.payload.count > 16 ? "..." : "")"
        case .clockRead: return value.map { "\($0) ns" } ?? "(no value)"
        case .randomRead: return value.map(Format.hex) ?? "(no value)"
        case .outputMarker:
            guard entry.payload.count == 16 else { return "(\(entry.payload.count) bytes, not 16)" }
            return "output \(UInt64(littleEndian: entry.payload.loadUnaligned(as: UInt64.self))), hash \(Format.hex(UInt64(littleEndian: entry.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))))"
        case .progress: return value.map { "until \($0)" } ?? "(no value)"
        case .scheduling:
            return value.map { "until \($0)\(entry.header.flags.contains(.preemptible) ? ", preemptible" : "")" } ?? "(no value)"
        case .preempt: return "slice ends here (host time slice expired)"
        case .ticket: return value.map { "ticket \($0)" } ?? "(no ticket)"
        case .ticketedRequest:
            return value.map { "ticket \($0), a \(entry.payload.count - 8)-byte request" } ?? "(no ticket)"
        case .heartbeat: return value.map { "clock \($0)" } ?? "(no value)"
        case .endOfLog: return value.map { "final state hash \(Format.hex($0))" } ?? "(no value)"
        case .outputsReleased: return value.map { "outputs up to \($0) released" } ?? "(no value)"
        case .statePage: return value.map { "page \($0), \(entry.payload.count - 8) bytes" } ?? "(no page index)"
        case .machineState: return "vCPU and device state, \(entry.payload.count) bytes"
        case .transferEnd: return value.map { "transferred state hash \(Format.hex($0))" } ?? "(no value)"
        }
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
