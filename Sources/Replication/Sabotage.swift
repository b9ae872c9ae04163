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
    /// The backup reads this clock (or random) entry's value with its lowest bit flipped.
    public var alterValue: UInt64?
    /// The backup injects this interrupt (or request) entry one instruction after its logged
    /// position.
    public var lateInjection: UInt64?

    public init() {}

    public var touchesBackup: Bool { dropEntry != nil || alterValue != nil || lateInjection != nil }
}

/// The backup's log source with the backup-side `Sabotage` applied: entries dropped, values
/// altered, injections moved one instruction later. The altered value lives in a buffer the
/// instance owns (8 bytes, freed in `deinit`), valid until the next `next()`.
final class SabotagedLogSource: LogSource {
    private let inner: LogSource
    private let sabotage: Sabotage
    private let altered = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)

    init(_ inner: LogSource, sabotage: Sabotage) {
        self.inner = inner
        self.sabotage = sabotage
    }

    deinit { altered.deallocate() }

    func next() throws -> LogEntryView? {
        guard var entry = try inner.next() else { return nil }
        if entry.header.seq == sabotage.dropEntry {
            inner.consume()
            guard let following = try inner.next() else { return nil }
            entry = following
        }
        var header = entry.header
        if header.seq == sabotage.alterValue, let value = entry.value {
            altered.storeBytes(of: (value ^ 1).littleEndian, as: UInt64.self)
            return LogEntryView(header: header, payload: UnsafeRawBufferPointer(altered))
        }
        if header.seq == sabotage.lateInjection {
            header.instructionCount += 1
            return LogEntryView(header: header, payload: entry.payload)
        }
        return entry
    }

    func consume() { inner.consume() }
}
