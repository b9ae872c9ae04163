import GuestVM
import LogChannel
import Topology

/// Where the backup reads the log: the live channel, a trace file, or (in tests) a recorded
/// array.
public protocol LogSource: AnyObject {
    /// The next entry to replay, waiting for it; nil at the end of the log. The view is valid
    /// until `consume()`.
    func next() throws -> LogEntryView?
    /// Moves past the entry `next()` returned.
    func consume()
}

/// Told what a failover needs from the replay: every output the backup checked (with its
/// number), and every release the primary reported in the log.
protocol OutputWitness: AnyObject {
    func replayed(_ output: UnsafeRawBufferPointer, number: UInt64) throws
    func primaryReleased(upTo number: UInt64)
}

/// The backup's VMM: replays the log on its own machine, injecting each logged input at exactly
/// its logged position, supplying logged clock and random values, running exactly the logged
/// slices, and dropping its outputs after checking them against the primary's output markers.
/// Anything else in the log, a log entry that never comes where it should, or a log that stops
/// without its end-of-log entry, is a `Divergence` or an error.
final class BackupDriver: HostDriver {
    let source: LogSource
    /// The same source when it is the live log itself (no test's wrapper around it): called
    /// directly rather than through the protocol, so that its fast path inlines here. Unmanaged:
    /// `source` holds the object for as long as this driver lives, and a strong optional (or an
    /// `unowned(unsafe)` one) was retained and released around every call (swift_retain and
    /// swift_release, 10% of the backup's samples on `nondet`).
    private let live: Unmanaged<LiveLogSource>?
    /// `.sequence`, `.endOfLog` and `.finalState` apply here; the rest are a trace reader's.
    let checks: LogChecks
    /// The seq the next entry must carry: the log is numbered without gaps (from 1, or after a state transfer), so a lost,
    /// duplicated or reordered entry is caught at the first entry out of place.
    private var expectedSeq: UInt64
    /// The end-of-log entry (or the end of the source) has been reached.
    private(set) var ended = false
    /// The log ended at its end-of-log entry, not by the source running dry.
    private var reachedEndOfLog = false
    private(set) var outputsChecked = 0
    private(set) var entriesReplayed: UInt64 = 0
    /// Told of outputs and releases, when the backup may have to take over.
    weak var witness: OutputWitness?

    /// Outputs the guest produced before this backup's log starts (a restored backup's).
    let outputBase: UInt64
    /// The slice running now may be preempted (its scheduling entry said so).
    private var preemptible = false

    /// The seq the next entry must carry: where a new primary's log continues.
    var nextSeq: UInt64 { expectedSeq }

    /// - Parameters:
    ///   - firstSeq: the seq of the first entry (a backup restored by state transfer starts
    ///     after the transfer's entries).
    ///   - outputBase: outputs produced before it.
    init(source: LogSource, checks: LogChecks = .all, firstSeq: UInt64 = 1, outputBase: UInt64 = 0) {
        self.source = source
        live = (source as? LiveLogSource).map { Unmanaged.passUnretained($0) }
        self.checks = checks
        expectedSeq = firstSeq
        self.outputBase = outputBase
    }

    var isFinished: Bool { ended }

    /// The next entry to replay, skipping heartbeats and release reports (passed to the
    /// witness); nil (and `ended`) at the end-of-log entry, which is left for `checkLogEnded`,
    /// or at the end of the source.
    private func nextEntry() throws -> LogEntryView? {
        while let entry = try sourceNext() {
            try checkSequence(entry)
            let kind = entry.header.kind
            if kind == .endOfLog {
                reachedEndOfLog = true
                break
            }
            guard kind == .heartbeat || kind == .outputsReleased else { return entry }
            if kind == .outputsReleased, let number = entry.value { witness?.primaryReleased(upTo: number) }
            sourceConsume()
            expectedSeq += 1
        }
        ended = true
        return nil
    }

    @inline(__always)
    private func sourceNext() throws -> LogEntryView? {
        if let live { return try live._withUnsafeGuaranteedRef { try $0.next() } }
        return try source.next()
    }

    @inline(__always)
    private func sourceConsume() {
        if let live { return live._withUnsafeGuaranteedRef { $0.consume() } }
        source.consume()
    }

    /// Throws unless `entry` is the next entry of the log.
    @inline(__always)
    func checkSequence(_ entry: LogEntryView) throws {
        guard entry.header.seq != expectedSeq else { return }
        guard checks.contains(.sequence) else {
            expectedSeq = entry.header.seq
            return
        }
        let what = entry.header.seq > expectedSeq
            ? "entry #\(expectedSeq) is missing: the log continues with #\(entry.header.seq)"
            : "entry #\(entry.header.seq) comes again (or out of order) where #\(expectedSeq) was due"
        throw Divergence(seq: expectedSeq, vcpu: Int(entry.header.vcpu), instructionCount: entry.header.instructionCount,
                         kind: entry.header.kind, reason: what)
    }

    private func consume() {
        sourceConsume()
        entriesReplayed += 1
        expectedSeq += 1
    }

    /// A divergence at `entry`, or, when the log ended, at the seq that was due.
    private func diverge(_ entry: LogEntryView?, vcpu: Int, count: UInt64, _ reason: String, logged: String? = nil,
                         replayed: String? = nil) -> Divergence {
        Divergence(seq: entry?.header.seq ?? expectedSeq, vcpu: vcpu, instructionCount: count,
                   kind: entry?.header.kind ?? (reachedEndOfLog ? .endOfLog : nil),
                   reason: reason, logged: logged ?? entry.map(describe), replayed: replayed)
    }

    private func describe(_ entry: LogEntryView) -> String {
        "\(entry.header.kind) for vCPU \(entry.header.vcpu) at instruction \(entry.header.instructionCount)"
    }

    func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        while let entry = try nextEntry() {
            let header = entry.header
            switch header.kind {
            case .interrupt, .clientRequest, .dmaData:
                guard header.vcpu == vcpu else { return }
                guard header.instructionCount == count else {
                    throw diverge(entry, vcpu: vcpu, count: count, "an injection is logged where the vCPU is not",
                                  replayed: "has vCPU \(vcpu) at instruction \(count)")
                }
                if header.kind == .interrupt {
                    guard let line = entry.payload.first.flatMap({ Interrupt(rawValue: $0) }) else {
                        throw diverge(entry, vcpu: vcpu, count: count, "interrupt entry without a valid line")
                    }
                    machine.raise(line, vcpu: vcpu)
                } else {
                    let result = machine.deliverDMA(entry.payload)
                    guard result == .delivered(vcpu: vcpu) else {
                        throw diverge(entry, vcpu: vcpu, count: count, "logged DMA could not be delivered",
                                      replayed: "got \(result)")
                    }
                }
                consume()
            default:
                return
            }
        }
    }

    func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64 {
        guard let entry = try nextEntry() else { return count }
        guard entry.header.kind == .scheduling, entry.header.vcpu == vcpu, entry.header.instructionCount == count,
              let until = entry.value else {
            throw diverge(entry, vcpu: vcpu, count: count, "the slices differ",
                          replayed: "starts a slice of vCPU \(vcpu) at instruction \(count)")
        }
        preemptible = entry.header.flags.contains(.preemptible)
        consume()
        return until
    }

    /// A preemptible slice (timeslice interleaving) ends where the primary's did: at the
    /// `preempt` entry for this vCPU, when that is the next entry. Anything else next means no
    /// switch comes before the slice's next exit, so it may run on (its exits stop it where they
    /// are logged). This waits for the next entry, so a backup in this mode runs at most to the
    /// primary's latest logged point.
    func sliceLimit(vcpu: Int, count: UInt64, end: UInt64) throws -> UInt64 {
        guard preemptible, let entry = try nextEntry(), entry.header.kind == .preempt else { return end }
        let at = entry.header.instructionCount
        guard entry.header.vcpu == vcpu, at >= count, at < end else {
            throw diverge(entry, vcpu: vcpu, count: count, "the switch is logged where the vCPU is not",
                          replayed: "runs vCPU \(vcpu) at instruction \(count), slice to \(end)")
        }
        guard at == count else { return at }
        consume()
        return count
    }

    func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        let expected: LogEntryKind
        if case .clockRead = exit { expected = .clockRead } else { expected = .randomRead }
        let entry = try nextEntry()
        guard let entry, entry.header.kind == expected, entry.header.vcpu == vcpu, entry.header.instructionCount == count,
              let value = entry.value else {
            throw diverge(entry, vcpu: vcpu, count: count, entry == nil ? "the log ends where the guest reads a value" : "the value reads differ",
                          replayed: "has a \(expected) of vCPU \(vcpu) at instruction \(count)")
        }
        consume()
        return value
    }

    func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        let entry = try nextEntry()
        guard let entry, entry.header.kind == .outputMarker, entry.header.vcpu == vcpu, entry.header.instructionCount == count,
              entry.payload.count == 16 else {
            throw diverge(entry, vcpu: vcpu, count: count, entry == nil ? "the log ends where the guest produces an output" : "the outputs differ in place",
                          replayed: "has an output of vCPU \(vcpu) at instruction \(count)")
        }
        let logged = UInt64(littleEndian: entry.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let replayed = outputHash(bytes)
        guard logged == replayed else {
            throw diverge(entry, vcpu: vcpu, count: count, "the backup's output differs from the primary's",
                          logged: "output hash \(hex(logged))", replayed: "\(hex(replayed)) (\(bytes.count) bytes)")
        }
        outputsChecked += 1
        try witness?.replayed(bytes, number: UInt64(littleEndian: entry.payload.loadUnaligned(as: UInt64.self)))
        consume()
    }

    func idle(_ machine: Machine) throws -> Bool {
        guard let entry = try nextEntry() else { return false }
        let vcpu = Int(entry.header.vcpu)
        let isInjection = [.interrupt, .clientRequest, .dmaData].contains(entry.header.kind)
        let count = vcpu < machine.vcpuCount ? machine.instructionCount(vcpu: vcpu) : 0
        // Due exactly where its vCPU waits: the scheduler's next round injects it.
        guard isInjection, vcpu < machine.vcpuCount, count == entry.header.instructionCount else {
            throw diverge(entry, vcpu: vcpu, count: count, "every vCPU waits for an interrupt, but the log goes on",
                          replayed: "has vCPU \(vcpu) waiting at instruction \(count)")
        }
        return true
    }

    /// After the guest stopped (halted, or the log reached its end-of-log entry): reads the log to
    /// its end, and throws unless only heartbeats come before the end-of-log entry, the
    /// entry's state hash is `finalStateHash` (the replayed machine's), and nothing follows it.
    func checkLogEnded(finalStateHash: UInt64, instructions: UInt64) throws {
        if let entry = try nextEntry() {
            throw diverge(entry, vcpu: Int(entry.header.vcpu), count: entry.header.instructionCount,
                          "the log goes on after the backup's guest stopped", replayed: "has every vCPU halted")
        }
        // `nextEntry` stopped at the end-of-log entry (already checked for its seq), or the log ran dry.
        guard reachedEndOfLog, let end = try source.next() else {
            guard checks.contains(.endOfLog) else { return }
            throw ReplicationError("the log ends after entry #\(expectedSeq - 1) without an end-of-log entry: it was cut short")
        }
        if checks.contains(.finalState), end.value != finalStateHash {
            throw diverge(end, vcpu: Int(end.header.vcpu), count: instructions, "the final states differ",
                          logged: "state hash \(end.value.map(hex) ?? "(none)")", replayed: "\(hex(finalStateHash))")
        }
        consume()
        if let extra = try source.next(), checks.contains(.endOfLog) {
            throw diverge(extra, vcpu: Int(extra.header.vcpu), count: extra.header.instructionCount,
                          "the log goes on after its end-of-log entry")
        }
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
