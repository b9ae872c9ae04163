import GuestVM
import LogChannel
import LogTrace

/// A recorded log, replayed from memory: for tests that corrupt or reorder entries.
///
/// Ownership: the encoded entries live in one allocation owned by the instance (freed in
/// `deinit`), so the views `next()` returns stay valid while it lives.
public final class RecordedLogSource: LogSource {
    private let storage: UnsafeMutableRawBufferPointer
    private let offsets: [Int]
    private var index = 0

    /// Encodes `entries` once; replay decodes (and verifies) each in place.
    public init(_ entries: [LogEntry]) {
        let encoded = entries.map(LogEntryCodec.encode)
        var offsets = [0]
        for e in encoded { offsets.append(offsets.last! + e.count) }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, offsets.last!), alignment: 8)
        for (e, offset) in zip(encoded, offsets) {
            e.withUnsafeBytes { storage.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        self.storage = storage
        self.offsets = offsets
    }

    deinit { storage.deallocate() }

    public func next() throws -> LogEntryView? {
        guard index + 1 < offsets.count else { return nil }
        return try LogEntryCodec.decode(UnsafeRawBufferPointer(rebasing: storage[offsets[index]..<offsets[index + 1]]))
    }

    public func consume() { index += 1 }
}

/// Replays a log on a fresh machine, as a backup would: a trace, a recorded log in a test.
public enum Replay {
    public struct Outcome: Equatable, Sendable {
        public var stateHash: UInt64
        public var outputsChecked: Int
        public var entriesReplayed: UInt64
        /// Guest instructions the replay executed, over every vCPU.
        public var instructions: UInt64
    }

    /// Throws `Divergence` at the first entry the replay does not match.
    public static func run(program: Program, vcpus: Int, source: LogSource, quantum: UInt64, checks: LogChecks = .all) throws -> Outcome {
        try run(machine: try Machine(program: program, vcpus: vcpus), source: source, quantum: quantum, checks: checks)
    }

    /// Replays on `machine`, which must be fresh.
    public static func run(machine: Machine, source: LogSource, quantum: UInt64, checks: LogChecks = .all) throws -> Outcome {
        var driver = BackupDriver(source: source, checks: checks)
        let summary = try machine.drive(&driver, quantum: quantum)
        try driver.checkLogEnded(finalStateHash: summary.stateHash, instructions: summary.totalInstructions)
        return Outcome(stateHash: summary.stateHash, outputsChecked: driver.outputsChecked, entriesReplayed: driver.entriesReplayed,
                       instructions: summary.totalInstructions)
    }

    /// Replays `trace` with `program` on a fresh machine of the trace's vCPUs and memory, after
    /// checking that the trace is of this ISA version and this program. Throws `TraceError` for
    /// a defect of the trace (with its byte offset and seq), `Divergence` where the replay does
    /// not match it.
    public static func run(trace: TraceFile, program: Program) throws -> Outcome {
        try check(trace, against: program)
        let header = trace.header
        let machine = try Machine(program: program, vcpus: Int(header.vcpus), memorySize: Int(clamping: header.memorySize))
        return try run(machine: machine, source: TraceLogSource(trace), quantum: header.quantum, checks: trace.checks)
    }

    /// Throws unless `trace` was recorded with this ISA version and `program` (equal code hashes).
    public static func check(_ trace: TraceFile, against program: Program) throws(TraceError) {
        let header = trace.header
        if trace.checks.contains(.isaVersion), header.isaVersion != Machine.isaVersion {
            throw TraceError(path: trace.path, offset: 16, "recorded with guest ISA version \(header.isaVersion); this ftbench implements version \(Machine.isaVersion), whose instructions may behave or count differently")
        }
        if trace.checks.contains(.programHash), header.programHash != program.contentHash {
            throw TraceError(path: trace.path, offset: 48, "recorded from a program with code hash \(hex(header.programHash)) ('\(header.programName)'); the program given ('\(program.name)') has \(hex(program.contentHash)): replay it with the program it was recorded from")
        }
        guard header.quantum > 0, (1...64).contains(header.vcpus) else {
            throw TraceError(path: trace.path, offset: 20, "the header's quantum (\(header.quantum)) or vCPU count (\(header.vcpus)) is out of range")
        }
    }
}

/// A trace file as the backup's log: each entry checked by the `TraceReader` (checksum, chain,
/// seq, end) before the replay sees it.
final class TraceLogSource: LogSource {
    private var reader: TraceReader
    private var pending: LogEntryView?

    init(_ trace: TraceFile) { reader = trace.records() }

    func next() throws -> LogEntryView? {
        if let pending { return pending }
        pending = try reader.next()?.entry
        return pending
    }

    func consume() { pending = nil }
}
