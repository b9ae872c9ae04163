import LogChannel

/// Test-only switches that break one replication mechanism on purpose, so that a safety test can
/// show that its checker catches the breakage (a negative control). Production code never sets
/// them; each costs a predictable branch where it acts, and the backup-side ones wrap the log
/// source only when set, so the replay loop of a normal run is unchanged.
public struct Sabotage: Sendable, Equatable {
    /// The primary releases each output the moment it is produced, ignoring the output rule.
    public var releaseOnHold = false
    /// The primary releases an output when the log entry before its marker is acknowledged.
    public var releaseOneEntryEarly = false
    /// The primary believes every ACK covers one entry more than it does.
    public var bumpAcknowledged = false
    /// The backup skips the log entry with this seq.
    public var dropEntry: UInt64?
    /// The backup skips the first switch (`preempt`) entry of a timeslice log, wherever it is.
    public var dropFirstPreempt = false
    /// The backup reads the value of the first clock or random entry at or after this seq
    /// with its lowest bit flipped.
    public var alterValue: UInt64?
    /// The backup injects the first interrupt or client request at or after this seq one
    /// instruction after its logged position.
    public var lateInjection: UInt64?
    /// The backup never sees the end-of-log entry, as if the log had been cut just before it.
    public var dropEndOfLog = false
    /// The backup does not make these checks of the live log (`.sequence`, `.endOfLog`,
    /// `.finalState`).
    public var skipChecks: LogChecks = []
    /// The client network hands every reply to the application, duplicates included.
    public var noClientDedup = false
    /// Clients never send a request again, however long it goes unanswered.
    public var noClientResend = false
    /// The arbiter grants every claim (no test-and-set): both sides of a partition can go live.
    public var arbiterAlwaysGrants = false
    /// A state transfer's pre-copy never learns which pages the guest wrote: it sends memory
    /// once and nothing again, so the new backup starts from a stale copy.
    public var untrackedWrites = false

    /// Recorded interleaving: the primary ends each ticket's step before performing its
    /// synchronising instruction (yielding the CPU in between, as a preempted thread would), so
    /// the operation can take effect after a later ticket's.
    public var performOutsideTicket = false
    /// Recorded interleaving: the backup skips the first ticket entry of the last vCPU's log.
    public var dropFirstTicket = false
    /// Recorded interleaving: an output waits only for its own vCPU's ring to be acknowledged.
    public var outputRuleOwnVCPUOnly = false
    /// Recorded interleaving: the primary delivers client requests by DMA outside any ticket
    /// (logged as plain `clientRequest` entries, which the backup delivers when it reaches
    /// them), so another vCPU's synchronising read of the buffer is ordered against no write.
    public var dmaOutsideTicket = false

    public init() {}

    public var touchesBackup: Bool { dropEntry != nil || dropFirstPreempt || alterValue != nil || lateInjection != nil || dropEndOfLog }
}

/// The backup's log source with the backup-side `Sabotage` applied: entries dropped, values
/// altered, injections moved one instruction later. An altered entry is encoded into a buffer
/// the instance owns (grown as needed, freed in `deinit`), valid until the next `next()`.
final class SabotagedLogSource: LogSource {
    private let inner: LogSource
    private let sabotage: Sabotage
    private var altered = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    /// The seq of the entry the sabotage changed (or dropped), once it has.
    private(set) var applied: UInt64?

    init(_ inner: LogSource, sabotage: Sabotage) {
        self.inner = inner
        self.sabotage = sabotage
    }

    deinit { altered.deallocate() }

    func next() throws -> LogEntryView? {
        guard var entry = try inner.next() else { return nil }
        if sabotage.dropEndOfLog, entry.header.kind == .endOfLog {
            applied = entry.header.seq
            return nil
        }
        if entry.header.seq == sabotage.dropEntry || (sabotage.dropFirstPreempt && applied == nil && entry.header.kind == .preempt) {
            applied = entry.header.seq
            inner.consume()
            guard let following = try inner.next() else { return nil }
            entry = following
        }
        var header = entry.header
        if let from = sabotage.alterValue, applied == nil || applied == header.seq, header.seq >= from,
           [.clockRead, .randomRead].contains(header.kind), let value = entry.value {
            applied = header.seq
            return try alter(header, payload: withUnsafeBytes(of: (value ^ 1).littleEndian) { Array($0) })
        }
        if let from = sabotage.lateInjection, applied == nil || applied == header.seq, header.seq >= from,
           [.interrupt, .clientRequest].contains(header.kind) {
            applied = header.seq
            header.instructionCount += 1
            return try alter(header, payload: Array(entry.payload))
        }
        return entry
    }

    /// The entry `header` with `payload`, encoded into `altered` and read back from there.
    private func alter(_ header: LogEntryHeader, payload: [UInt8]) throws -> LogEntryView {
        let encoded = LogEntryCodec.encode(LogEntry(header: header, payload: payload))
        if encoded.count > altered.count {
            altered.deallocate()
            altered = UnsafeMutableRawBufferPointer.allocate(byteCount: encoded.count, alignment: 8)
        }
        altered.copyBytes(from: encoded)
        return try LogEntryCodec.decode(UnsafeRawBufferPointer(rebasing: altered[..<encoded.count]))
    }

    func consume() { inner.consume() }
}
