/// Where a recording side appends its log entries: a channel to a backup (`LogSender`), or
/// nowhere (`DiscardingLog`), which measures what recording costs with no backup to feed.
/// Use from one thread only.
public protocol LogSink {
    /// Encodes the entry (copying the payload once), waiting while a channel is full.
    func append(_ header: LogEntryHeader, payload: UnsafeRawBufferPointer) throws(ChannelError)
    /// Appends an entry whose payload is one u64 (values, tickets). `LogSender` implements it
    /// itself, so that callers in other modules reach an append specialised for an 8-byte
    /// payload: through the generic extension, clock entries crossed the channel at half the
    /// rate (LogChannelBenchmarks, 16-34 against 42-45 M entries/s).
    func append(_ header: LogEntryHeader, value: UInt64) throws(ChannelError)
    /// Makes every appended entry visible to the reader (at its emulated delivery time).
    func flush()
    /// Entries and encoded bytes appended so far.
    var entriesSent: UInt64 { get }
    var bytesSent: UInt64 { get }
}

extension LogSink {
    /// Appends an entry whose payload is one u64 (values, tickets).
    @inline(__always)
    public func append(_ header: LogEntryHeader, value: UInt64) throws(ChannelError) {
        try withUnsafeBytes(of: value.littleEndian) { bytes throws(ChannelError) in try append(header, payload: bytes) }
    }
}

extension LogSender: LogSink {}

/// A log with no reader: each entry is encoded (header, payload copy, checksum) into a buffer
/// that `flush` empties, so a recording run pays everything but the channel.
///
/// Storage: one allocation the instance owns (freed in `deinit`): its counters, then a buffer
/// of `capacity` bytes. They are reached through pointers, so the append path pays no
/// exclusivity checks (as class properties, they cost 2% of a lock-heavy recording run). Only
/// the owning thread touches them.
public final class DiscardingLog: LogSink, @unchecked Sendable {
    private struct State {
        var used = 0
        var entries: UInt64 = 0
        var bytes: UInt64 = 0
    }

    private let state: UnsafeMutablePointer<State>
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int

    public init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 128 + capacity, alignment: 128)
        state = memory.bindMemory(to: State.self, capacity: 1)
        state.initialize(to: State())
        buffer = memory + 128
    }

    deinit {
        state.deinitialize(count: 1)
        UnsafeMutableRawPointer(state).deallocate()
    }

    public var entriesSent: UInt64 { state.pointee.entries }
    public var bytesSent: UInt64 { state.pointee.bytes }

    @inline(__always)
    public func append(_ header: LogEntryHeader, payload: UnsafeRawBufferPointer) throws(ChannelError) {
        let size = LogEntryCodec.encodedSize(payloadLength: payload.count)
        guard size <= capacity else { throw .frameTooLarge(bytes: size, maximum: capacity) }
        if state.pointee.used + size > capacity { state.pointee.used = 0 }  // as if flushed: nothing reads it
        _ = LogEntryCodec.encode(header, payload: payload, into: buffer + state.pointee.used)
        state.pointee.used += size
        state.pointee.entries &+= 1
        state.pointee.bytes &+= UInt64(size)
    }

    @inline(__always)
    public func flush() { state.pointee.used = 0 }
}
