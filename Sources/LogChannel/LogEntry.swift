/// One non-deterministic event, as the primary logs it and the backup replays it.
public enum LogEntryKind: UInt8, CaseIterable, Sendable {
    /// An interrupt line raised on a vCPU (payload: the line, 1 byte).
    case interrupt = 1
    /// Bytes a device wrote into guest memory by DMA (payload: the bytes).
    case dmaData = 2
    /// The value a clock read returned (payload: u64).
    case clockRead = 3
    /// The value a random read returned (payload: u64).
    case randomRead = 4
    /// A client request delivered to the guest (payload: the request).
    case clientRequest = 5
    /// The guest produced an output here (payload: output id u64 and a hash of its bytes u64):
    /// the backup checks its own output against it.
    case outputMarker = 6
    /// Nothing happened up to this instruction count: the backup may execute that far.
    case progress = 7
    /// Which vCPU runs next and up to which count (payload: vCPU u32, until u64).
    case scheduling = 8
    /// The primary is alive (payload: its clock, u64).
    case heartbeat = 9
    /// The primary's run ended here (payload: the state hash of its machine, u64). The last
    /// entry of every complete log: a log that stops without it was cut short, and a backup
    /// whose final state hash differs diverged.
    case endOfLog = 10
    /// The primary has released every output up to this output number (payload: u64). A backup
    /// keeps copies of the outputs after it: if the primary fails, those are the outputs it
    /// cannot be sure left, and the new primary sends them again (clients drop duplicates).
    case outputsReleased = 11
    /// State transfer to a new backup: one page of guest memory (payload: page index u64, then
    /// the page's bytes). Pre-copy rounds send pages while the guest runs; the final
    /// stop-and-copy sends the pages written since.
    case statePage = 12
    /// State transfer: the vCPUs and devices at the stop-and-copy (payload: outputs produced u64,
    /// outputs released u64, then `MachineState`'s encoding).
    case machineState = 13
    /// State transfer complete (payload: the state hash of the primary's machine at the
    /// stop-and-copy, which the restored machine must match). The log proper continues at the
    /// next seq.
    case transferEnd = 14
    /// Timeslice interleaving: the running vCPU's host-time slice expired, so its slice ends at
    /// this instruction count, before the `until` of its scheduling entry (no payload). Only a
    /// slice whose scheduling entry is flagged `preemptible` can have one.
    case preempt = 15
    /// Recorded interleaving: the vCPU performs a synchronising instruction (an atomic, a fence,
    /// an ordered access, a device-register write) at this instruction count, as the given place
    /// in the global order of them (payload: the ticket, u64). The backup performs it at the
    /// same count when the tickets before it have been performed.
    case ticket = 16
    /// Recorded interleaving: a client request the DMA device delivered into the receive buffer
    /// this vCPU posted, before its instruction at this count, inside a ticket's step (payload:
    /// the ticket u64, then the request). The backup delivers it at the same count and the same
    /// place in the order, so other vCPUs' synchronising reads of the buffer see what they saw.
    case ticketedRequest = 17
}

extension LogEntryKind {
    /// The kind whose raw value is `byte`, or nil: `init(rawValue:)` without the call. Decoding
    /// is inlined into the backup's replay loop, and the synthesised initialiser, defined in
    /// this module, is a call from there on every entry (1.5% of the backup's samples on
    /// `nondet`). The kinds are numbered 1...17 in declaration order, and an enum without
    /// payloads stores its declaration index, so the raw value less one is that index
    /// (LogEntryTests checks all 256 bytes against `init(rawValue:)`).
    @inlinable
    public static func decoding(_ byte: UInt8) -> LogEntryKind? {
        byte &- 1 < 17 ? unsafeBitCast(byte &- 1, to: LogEntryKind.self) : nil
    }
}

/// The fixed part of a log entry.
public struct LogEntryHeader: Equatable, Sendable {
    public var seq: UInt64
    public var instructionCount: UInt64
    public var vcpu: UInt32
    public var kind: LogEntryKind
    public var flags: LogEntryFlags

    @inlinable
    public init(seq: UInt64, instructionCount: UInt64, vcpu: UInt32 = 0, kind: LogEntryKind, flags: LogEntryFlags = []) {
        self.seq = seq
        self.instructionCount = instructionCount
        self.vcpu = vcpu
        self.kind = kind
        self.flags = flags
    }
}

public struct LogEntryFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// An output follows this entry: an output-aware ACK policy acknowledges it at once.
    @inlinable public static var precedesOutput: LogEntryFlags { LogEntryFlags(rawValue: 1) }
    /// Acknowledge this entry at once whatever the policy (the primary's last entry of a run).
    @inlinable public static var acknowledgeNow: LogEntryFlags { LogEntryFlags(rawValue: 2) }
    /// On a scheduling entry: the slice may end early, at a `preempt` entry (timeslice
    /// interleaving), so the backup watches for one before each run of the slice.
    @inlinable public static var preemptible: LogEntryFlags { LogEntryFlags(rawValue: 4) }
}

/// A log entry read in place, from its encoding (in the channel's ring, a trace file, a buffer):
/// valid only as long as those bytes are (in the channel, until the receiver releases them).
///
/// Only a pointer to the encoding, which `LogEntryCodec.decode` has checked (length, version,
/// kind and, unless told otherwise, checksum) before it makes a view; the fields are read from
/// it when asked for. An optional view is then one word, returned in a register. As a copy of
/// the decoded header and payload (48 bytes, returned through memory three calls deep), every
/// entry the backup replayed was written to the stack in pieces and read back whole, which
/// stalls store-to-load forwarding: 48% of `LiveLogSource.next`'s samples sat on that reload on
/// `nondet` (perf annotate).
public struct LogEntryView {
    /// The encoded entry: `LogEntryCodec.headerSize` bytes of header, then the payload.
    @usableFromInline let base: UnsafeRawPointer

    @inlinable init(checked base: UnsafeRawPointer) { self.base = base }

    @inlinable public var header: LogEntryHeader {
        let w0 = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        return LogEntryHeader(
            seq: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            instructionCount: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            vcpu: UInt32(truncatingIfNeeded: w0 >> 32),
            kind: LogEntryKind.decoding(UInt8(truncatingIfNeeded: w0 >> 8)).unsafelyUnwrapped,
            flags: LogEntryFlags(rawValue: UInt16(truncatingIfNeeded: w0 >> 16)))
    }

    @inlinable public var payload: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + LogEntryCodec.headerSize,
                               count: Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt32.self))))
    }

    /// The payload as a u64 (clock and random values, heartbeats), or nil if it is not 8 bytes.
    @inlinable public var value: UInt64? {
        let payload = payload
        return payload.count >= 8 ? UInt64(littleEndian: payload.loadUnaligned(as: UInt64.self)) : nil
    }

    /// Copies the entry out of the channel.
    public var owned: LogEntry { LogEntry(header: header, payload: Array(payload)) }
}

/// A log entry that owns its payload (for tests, files and anything kept past a `drain`).
public struct LogEntry: Equatable, Sendable {
    public var header: LogEntryHeader
    public var payload: [UInt8]

    public init(header: LogEntryHeader, payload: [UInt8] = []) {
        self.header = header
        self.payload = payload
    }

    public init(header: LogEntryHeader, value: UInt64) {
        self.header = header
        payload = withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
