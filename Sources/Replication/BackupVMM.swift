import GuestVM
import LogChannel
import Topology

/// Where the backup reads the log: the live channel, or (in tests) a recorded array.
public protocol LogSource: AnyObject {
    /// The next entry to replay, waiting for it; nil at the end of the log. The view is valid
    /// until `consume()`.
    func next() throws -> LogEntryView?
    /// Moves past the entry `next()` returned.
    func consume()
}

/// Replay found the backup somewhere the log does not: never silent.
public struct Divergence: Error, Equatable, CustomStringConvertible, Sendable {
    /// The first log entry that does not match (0 if the log had ended).
    public var seq: UInt64
    public var vcpu: Int
    public var instructionCount: UInt64
    public var reason: String

    public var description: String {
        "divergence at log entry #\(seq), vCPU \(vcpu), instruction \(instructionCount): \(reason)"
    }
}

/// The backup's VMM: replays the log on its own machine, injecting each logged input at exactly
/// its logged position, supplying logged clock and random values, running exactly the logged
/// slices, and dropping its outputs after checking them against the primary's output markers.
/// Anything else in the log, or a log entry that never comes where it should, is a
/// `Divergence`.
final class BackupDriver: HostDriver {
    let source: LogSource
    /// The seq the next entry must carry: the log is numbered from 1 without gaps, so a lost,
    /// duplicated or reordered entry is caught at the first entry out of place.
    private var expectedSeq: UInt64 = 1
    private(set) var ended = false
    private(set) var outputsChecked = 0
    private(set) var entriesReplayed: UInt64 = 0

    init(source: LogSource) { self.source = source }

    var isFinished: Bool { ended }

    /// The next entry, skipping heartbeats; nil (and `ended`) at the end of the log.
    private func nextEntry() throws -> LogEntryView? {
        while let entry = try source.next() {
            try checkSequence(entry)
            guard entry.header.kind == .heartbeat else { return entry }
            source.consume()
            expectedSeq += 1
        }
        ended = true
        return nil
    }

    /// Throws unless `entry` is the next entry of the log.
    @inline(__always)
    func checkSequence(_ entry: LogEntryView) throws {
        guard entry.header.seq != expectedSeq else { return }
        let what = entry.header.seq > expectedSeq
            ? "entry #\(expectedSeq) is missing: the log continues with #\(entry.header.seq)"
            : "entry #\(entry.header.seq) comes again (or out of order) where #\(expectedSeq) was due"
        throw Divergence(seq: expectedSeq, vcpu: Int(entry.header.vcpu), instructionCount: entry.header.instructionCount, reason: what)
    }

    private func consume() {
        source.consume()
        entriesReplayed += 1
        expectedSeq += 1
    }

    /// Moves past a heartbeat found after the guest stopped.
    func consumeHeartbeat() {
        source.consume()
        expectedSeq += 1
    }

    private func diverge(_ entry: LogEntryView?, vcpu: Int, count: UInt64, _ reason: String) -> Divergence {
        Divergence(seq: entry?.header.seq ?? 0, vcpu: vcpu, instructionCount: count, reason: reason)
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
                    throw diverge(entry, vcpu: vcpu, count: count, "the log has \(describe(entry)), the backup's vCPU is at \(count)")
                }
                if header.kind == .interrupt {
                    guard let line = entry.payload.first.flatMap({ Interrupt(rawValue: $0) }) else {
                        throw diverge(entry, vcpu: vcpu, count: count, "interrupt entry without a valid line")
                    }
                    machine.raise(line, vcpu: vcpu)
                } else {
                    let result = machine.deliverDMA(entry.payload)
                    guard result == .delivered(vcpu: vcpu) else {
                        throw diverge(entry, vcpu: vcpu, count: count, "logged DMA could not be delivered: \(result)")
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
            throw diverge(entry, vcpu: vcpu, count: count, "expected the slice of vCPU \(vcpu) from \(count), the log has \(describe(entry))")
        }
        consume()
        return until
    }

    func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        let expected: LogEntryKind
        if case .clockRead = exit { expected = .clockRead } else { expected = .randomRead }
        guard let entry = try nextEntry() else {
            throw diverge(nil, vcpu: vcpu, count: count, "the log ended where vCPU \(vcpu) reads a value")
        }
        guard entry.header.kind == expected, entry.header.vcpu == vcpu, entry.header.instructionCount == count, let value = entry.value else {
            throw diverge(entry, vcpu: vcpu, count: count, "the backup reads a \(expected) at \(count), the log has \(describe(entry))")
        }
        consume()
        return value
    }

    func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        guard let entry = try nextEntry() else {
            throw diverge(nil, vcpu: vcpu, count: count, "the log ended where vCPU \(vcpu) produces an output")
        }
        guard entry.header.kind == .outputMarker, entry.header.vcpu == vcpu, entry.header.instructionCount == count,
              entry.payload.count == 16 else {
            throw diverge(entry, vcpu: vcpu, count: count, "the backup produces an output at \(count), the log has \(describe(entry))")
        }
        let logged = UInt64(littleEndian: entry.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard logged == outputHash(bytes) else {
            throw diverge(entry, vcpu: vcpu, count: count, "the backup's output differs from the primary's")
        }
        outputsChecked += 1
        consume()
    }

    func idle(_ machine: Machine) throws -> Bool {
        guard let entry = try nextEntry() else { return false }
        let vcpu = Int(entry.header.vcpu)
        let isInjection = [.interrupt, .clientRequest, .dmaData].contains(entry.header.kind)
        let count = vcpu < machine.vcpuCount ? machine.instructionCount(vcpu: vcpu) : 0
        // Due exactly where its vCPU waits: the scheduler's next round injects it.
        guard isInjection, vcpu < machine.vcpuCount, count == entry.header.instructionCount else {
            throw diverge(entry, vcpu: vcpu, count: count, "every vCPU waits, but the log has \(describe(entry))")
        }
        return true
    }
}

/// The live log: the backup end of a `LogChannel`, acknowledging entries as they arrive (before
/// they are executed) according to an `AckPolicy`.
final class LiveLogSource: LogSource {
    let log: LogReceiver
    let acks: AckSender
    private var batcher: AckBatcher
    private(set) var executed: UInt64 = 0
    private var current: UInt64 = 0
    private var unreleased = 0
    /// What the last ACK said, so that a progress report changes neither.
    private var acknowledgedReceived: UInt64 = 0
    private var reportedExecuted: UInt64 = 0
    private var lastReport: UInt64 = 0
    /// Progress reports go out at most this often, so that they do not multiply ACK traffic.
    static let progressInterval: UInt64 = 1_000_000
    /// Every ACK sent, with its delivery time, when tracing (for `OutputRuleAudit`).
    private(set) var sentAcks: [(received: UInt64, deliveredAt: UInt64)]?

    init(_ end: LogChannel.BackupEnd, policy: AckPolicy, tracing: Bool = false) {
        log = end.log
        acks = end.acks
        batcher = AckBatcher(policy: policy)
        sentAcks = tracing ? [] : nil
    }

    func next() throws -> LogEntryView? {
        while true {
            let received = try receive()
            if let entry = try takeScanned() { return entry }
            // Caught up: report how far it has executed (at most once per millisecond), without
            // acknowledging anything new (the ACK policy alone decides that). Otherwise a
            // primary throttled for lag, which logs nothing, would never hear that the backup
            // caught up.
            var progressDeadline: UInt64?
            if executed > reportedExecuted {
                let now = monotonicNanos()
                if now >= lastReport + Self.progressInterval {
                    send(Acknowledgement(received: acknowledgedReceived, executed: executed))
                } else {
                    progressDeadline = lastReport + Self.progressInterval
                }
            }
            let deadline = earliest(batcher.nextDeadline, progressDeadline)
            if let due = received.nextDue {
                let now = monotonicNanos()
                // A run that ends normally closes the channel only once the backup has received
                // (and acknowledged) the whole log; an entry still in flight then means the run
                // was cut short (the watchdog, a failed primary), and waiting for it is pointless.
                if log.isClosed {
                    throw ReplicationError("the channel closed with entries still in flight (the next due in \(ChannelProfile.compact(nanos: due - now)))")
                }
                // In steps of at most 10 ms, so that a closed channel is noticed.
                waitUntil(min(due, deadline ?? .max, now + 10_000_000))
            } else if log.isClosed {
                _ = try receive()
                return try takeScanned()
            } else {
                log.waitForMore(until: deadline)
            }
        }
    }

    /// The next scanned entry to replay, noting its sequence number for `consume`.
    private func takeScanned() throws -> LogEntryView? {
        guard let entry = try log.peekScanned() else { return nil }
        current = entry.header.seq
        return entry
    }

    private func earliest(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    func consume() {
        log.consume()
        executed = current
        unreleased += 1
        if unreleased >= 64 {
            log.release()
            unreleased = 0
        }
    }

    /// Reads ahead whatever has arrived, acknowledging per the policy. Reads the clock only when
    /// the policy needs it: an entry arrived, or a time-based ACK is pending.
    private func receive() throws -> DrainResult {
        var now: UInt64?
        var ackUpTo: UInt64?
        let result = try log.scan { entry in
            let t = now ?? monotonicNanos()
            now = t
            if let seq = batcher.received(seq: entry.header.seq, flags: entry.header.flags, now: t) { ackUpTo = seq }
        }
        if ackUpTo == nil, batcher.nextDeadline != nil { ackUpTo = batcher.timerFired(now: now ?? monotonicNanos()) }
        if let seq = ackUpTo { send(Acknowledgement(received: seq, executed: executed)) }
        return result
    }

    private func send(_ ack: Acknowledgement) {
        // A closed ACK ring means the primary is gone; the log is still replayed to its end.
        if sentAcks != nil {
            if let delivered = try? acks.acknowledgeReportingDelivery(ack) { sentAcks!.append((ack.received, delivered)) }
        } else {
            try? acks.acknowledge(ack)
        }
        acknowledgedReceived = ack.received
        reportedExecuted = ack.executed
        lastReport = monotonicNanos()
    }
}

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

/// Replays a log on a fresh machine, as a backup would: for recorded logs and tests.
public enum Replay {
    public struct Outcome: Equatable, Sendable {
        public var stateHash: UInt64
        public var outputsChecked: Int
        public var entriesReplayed: UInt64
    }

    /// Throws `Divergence` at the first entry the replay does not match.
    public static func run(program: Program, vcpus: Int, source: LogSource, quantum: UInt64) throws -> Outcome {
        try run(machine: try Machine(program: program, vcpus: vcpus), source: source, quantum: quantum)
    }

    /// Replays on `machine`, which must be fresh.
    public static func run(machine: Machine, source: LogSource, quantum: UInt64) throws -> Outcome {
        var driver = BackupDriver(source: source)
        _ = try machine.drive(&driver, quantum: quantum)
        try driver.checkLogEnded()
        return Outcome(stateHash: machine.stateHash(), outputsChecked: driver.outputsChecked, entriesReplayed: driver.entriesReplayed)
    }
}
