import Topology

/// The replication link between a primary and a backup: a log ring from primary to backup and
/// an ACK ring back, both with the same emulated network profile.
///
/// Each side opens its end (`openPrimaryEnd`, `openBackupEnd`) once, on the thread that will use
/// it, so that the end's objects come from that thread's allocator arena, never from the cache
/// line of an object the other side's thread writes. Built together on one thread, the two ends'
/// small objects sat next to each other and to the other side's machine: every reference-count
/// update of one side's objects took the line from under the other. With the other changes of
/// 60ac6cf, opening the ends here took the backup of `nondet` from 3.5 M to 5.8 M entries/s and
/// its primary's stall from 40% to 11% (medians of 12 rounds, docs/LOGCHANNEL.md, "Side-local
/// ends").
public struct LogChannel: Sendable {
    public let profile: ChannelProfile
    public let logRing: RingBuffer
    public let ackRing: RingBuffer
    /// Seeds the jitter of both directions.
    let seed: UInt64

    /// The primary's end: it sends log entries and receives ACKs.
    public struct PrimaryEnd: Sendable {
        public let log: LogSender
        public let acks: AckReceiver
    }

    /// The backup's end: it receives log entries and sends ACKs.
    public struct BackupEnd: Sendable {
        public let log: LogReceiver
        public let acks: AckSender
    }

    /// - Parameters:
    ///   - capacity: log ring slots (64 bytes each), a power of two; the ACK ring gets a quarter.
    ///   - logNode, ackNode: NUMA nodes for the log ring and the ACK ring, each best placed where
    ///     it is read (nil: wherever the allocator puts it).
    ///   - seed: seeds the jitter of both directions.
    public init(profile: ChannelProfile, capacity: Int = 1 << 16, logNode: Int? = nil, ackNode: Int? = nil,
                wait: WaitStrategy = .default, seed: UInt64 = 1) {
        self.profile = profile
        self.seed = seed
        logRing = RingBuffer(capacity: capacity, node: logNode, wait: wait)
        ackRing = RingBuffer(capacity: max(64, capacity / 4), node: ackNode, wait: wait)
    }

    /// The primary's end. Open it once per primary, on the primary's thread: a second end would
    /// count and pace its messages apart from the first.
    public func openPrimaryEnd() -> PrimaryEnd {
        PrimaryEnd(log: LogSender(DelayLineSender(RingProducer(logRing), profile: profile, seed: seed)),
                   acks: AckReceiver(DelayLineReceiver(RingConsumer(ackRing), profile: profile)))
    }

    /// The backup's end. Open it once per backup, on the backup's thread.
    public func openBackupEnd() -> BackupEnd {
        BackupEnd(log: LogReceiver(DelayLineReceiver(RingConsumer(logRing), profile: profile)),
                  acks: AckSender(DelayLineSender(RingProducer(ackRing), profile: profile, seed: seed &+ 0x5EED)))
    }

    /// Closes both directions (on failure, or at the end of a run): waiting sides wake and see
    /// `ChannelError.closed`; what was already published can still be drained.
    public func close() {
        logRing.close()
        ackRing.close()
    }
}

/// Appends log entries on the primary. Batch them: `append` several, then `flush()` once.
/// Use from one thread only.
///
/// The per-entry API of this module (append, scan, peek, consume, the ring ends and the codec)
/// is `@inlinable`, with `@usableFromInline` internals: `@inline(__always)` alone does not
/// cross a module boundary, and every append, peek and consume was a call from Replication
/// (15 call sites of `append` in the release binary, and the scan's per-entry closure called
/// through a context). docs/LOGCHANNEL.md, "Calls, copies and reference counts on every entry",
/// gives what this and the other per-entry changes of that section bought.
public struct LogSender: @unchecked Sendable {
    @usableFromInline let line: DelayLineSender

    init(_ line: DelayLineSender) { self.line = line }

    /// Encodes the entry into the ring (copying the payload once), waiting while the ring is full.
    @inlinable @inline(__always)
    public func append(_ header: LogEntryHeader, payload: UnsafeRawBufferPointer) throws(ChannelError) {
        let destination = try line.reserve(wireBytes: LogEntryCodec.encodedSize(payloadLength: payload.count))
        LogEntryCodec.encode(header, payload: payload, into: destination)
    }

    /// Appends an entry whose payload is one u64 (clock and random values, heartbeats).
    @inlinable @inline(__always)
    public func append(_ header: LogEntryHeader, value: UInt64) throws(ChannelError) {
        try withUnsafeBytes(of: value.littleEndian) { bytes throws(ChannelError) in try append(header, payload: bytes) }
    }

    /// Appends an entry with no payload.
    @inlinable @inline(__always)
    public func append(_ header: LogEntryHeader) throws(ChannelError) {
        try append(header, payload: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Makes every appended entry visible to the backup (at its emulated delivery time).
    @inlinable @inline(__always)
    public func flush() { line.flush() }

    /// `flush()`, the entries sent at `now`: a clock reading taken before they were appended
    /// (one clock read fewer per flush; they are delivered that much earlier).
    @inlinable @inline(__always)
    public func flush(sentAt now: UInt64) { line.flush(sentAt: now) }

    /// Starts bringing the ring line the next entry will be written to into this core, to be
    /// called a little before the next `append` (see `RingProducer.prefetchNextFrame`).
    @inlinable @inline(__always)
    public func prefetchNextEntry() { line.producer.prefetchNextFrame() }

    /// Whether a quarter of the ring is free, reading the backup's position only when the cached
    /// one says it is not.
    @inlinable @inline(__always)
    public var hasQuarterFree: Bool { line.producer.hasRoom(slots: line.producer.ring.capacity / 4) }

    public var entriesSent: UInt64 { line.state.pointee.messages }
    public var isClosed: Bool { line.producer.ring.isClosed }
    public var bytesSent: UInt64 { line.state.pointee.wireBytes }
    /// Times the ring was full and the total nanoseconds the primary waited for room.
    public var stalls: (count: UInt64, nanos: UInt64) { line.producer.ring.producerStalls }
}

/// Receives log entries on the backup. Use from one thread only.
public struct LogReceiver: @unchecked Sendable {
    @usableFromInline let line: DelayLineReceiver

    init(_ line: DelayLineReceiver) { self.line = line }

    /// Hands every entry that is due now (up to `limit`) to `body`, in order, decoded and
    /// checksum-verified in place; the views are valid only during the call. Does not wait.
    /// Throws `LogDecodingError` for a corrupt or truncated entry, which is never handed over.
    @inlinable @inline(__always)
    public func drain(limit: Int = .max, _ body: (LogEntryView) throws -> Void) throws -> DrainResult {
        try line.drain(limit: limit) { bytes in try body(try LogEntryCodec.decode(bytes)) }
    }

    /// Waits until at least one entry is due, then drains. A count of 0 means the channel was
    /// closed and everything in it has been received.
    public func receive(limit: Int = .max, _ body: (LogEntryView) throws -> Void) throws -> DrainResult {
        try line.receive(limit: limit) { bytes in try body(try LogEntryCodec.decode(bytes)) }
    }
}

extension LogReceiver {
    /// Reads ahead: hands every entry that has arrived (is due) and was not scanned before to
    /// `body`, decoded and verified, without consuming it. The backup acknowledges entries here,
    /// when they are received and buffered, before it executes them.
    @inlinable @inline(__always)
    public func scan(_ body: (LogEntryView) throws -> Void) throws -> DrainResult {
        try scanEncoded { entry, _ in try body(entry) }
    }

    /// `scan`, also handing over each entry's encoded bytes (as they crossed the channel, valid
    /// only during the call), for a recorder that keeps them.
    ///
    /// `delay` holds entries back that long past their delivery time (`.max`: none arrives), to
    /// inject a latency spike or a partition.
    @inlinable @inline(__always)
    public func scanEncoded(delay: UInt64 = 0, _ body: (LogEntryView, UnsafeRawBufferPointer) throws -> Void) throws -> DrainResult {
        try line.scan(delay: delay) { bytes in try body(try LogEntryCodec.decode(bytes), bytes) }
    }

    /// The next entry to execute (already scanned, so already verified), without consuming it;
    /// nil if the backup has executed everything it has scanned. Valid until `consume()`.
    @inlinable @inline(__always)
    public func peekScanned() throws -> LogEntryView? {
        guard let next = line.peekScanned() else { return nil }
        return try LogEntryCodec.decode(next.bytes, verify: false)
    }

    /// Consumes the entry `peekScanned` returned. Its slot is freed at the next `release()`.
    @inlinable @inline(__always)
    public func consume() { line.consumer.advanceScanned() }

    /// Frees the slots of every consumed entry, with one release store.
    @inlinable @inline(__always)
    public func release() { line.consumer.release() }

    /// Waits until something new arrives, the channel closes, or `deadline` passes.
    public func waitForMore(until deadline: UInt64?) { line.waitForMore(until: deadline) }

    public var isClosed: Bool { line.consumer.ring.isClosed }
}

/// What an ACK says, cumulatively: every log entry up to `received` has arrived at the backup and
/// is buffered there; every entry up to `executed` has been replayed.
public struct Acknowledgement: Equatable, Sendable {
    public var received: UInt64
    public var executed: UInt64

    public init(received: UInt64, executed: UInt64) {
        self.received = received
        self.executed = executed
    }
}

/// Sends acknowledgements from the backup. Use from one thread only.
public struct AckSender: @unchecked Sendable {
    @usableFromInline let line: DelayLineSender

    init(_ line: DelayLineSender) { self.line = line }

    /// Sends `ack` at once.
    public func acknowledge(_ ack: Acknowledgement) throws(ChannelError) {
        try encode(ack)
        line.flush()
    }

    /// Sends `ack` at once and returns a time at or before which the primary cannot receive it
    /// (its emulated delivery time): what an audit of the output rule compares releases with.
    public func acknowledgeReportingDelivery(_ ack: Acknowledgement) throws(ChannelError) -> UInt64 {
        try encode(ack)
        return line.flushReportingDelivery()
    }

    @inlinable @inline(__always)
    func encode(_ ack: Acknowledgement) throws(ChannelError) {
        let destination = try line.reserve(wireBytes: 16)
        destination.storeBytes(of: ack.received.littleEndian, as: UInt64.self)
        destination.storeBytes(of: ack.executed.littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    public var acksSent: UInt64 { line.state.pointee.messages }

    /// Whether an ACK can be sent now without waiting for the primary to take earlier ones off
    /// the ring. ACKs are cumulative, so a sender that finds no room may skip one: the next
    /// covers it.
    public var hasRoom: Bool { line.producer.hasRoom(slots: 2) }
}

/// Receives acknowledgements on the primary. Use from one thread only.
public struct AckReceiver: @unchecked Sendable {
    @usableFromInline let line: DelayLineReceiver

    init(_ line: DelayLineReceiver) { self.line = line }

    /// The latest acknowledgement among those due now, or nil if none is. Does not wait.
    @inlinable @inline(__always)
    public func poll() -> Acknowledgement? {
        var ignored = 0
        return poll(counting: &ignored)
    }

    /// Like `poll()`, adding to `count` how many ACKs it took (several may be due at once and
    /// are merged into the latest).
    ///
    /// `delay` holds ACKs back that long past their delivery time (`.max`: none arrives), to
    /// inject a latency spike or a partition.
    @inlinable @inline(__always)
    public func poll(counting count: inout Int, delay: UInt64 = 0) -> Acknowledgement? {
        var latest: Acknowledgement?
        count += line.drain(limit: .max, delay: delay) { Self.note($0, in: &latest) }.count
        return latest
    }

    /// `poll(counting:delay:)` of the ACKs due by `now`, the caller's clock reading (an ACK that
    /// falls due after it waits for the next poll).
    @inlinable @inline(__always)
    public func poll(counting count: inout Int, delay: UInt64 = 0, now: UInt64) -> Acknowledgement? {
        var latest: Acknowledgement?
        count += line.drain(limit: .max, now: now, delay: delay) { Self.note($0, in: &latest) }.count
        return latest
    }

    /// Waits for the next ACK(s) and returns the latest; nil if the channel closed.
    public func next() -> Acknowledgement? {
        var latest: Acknowledgement?
        _ = line.receive(limit: .max) { Self.note($0, in: &latest) }
        return latest
    }

    @inlinable @inline(__always)
    static func note(_ bytes: UnsafeRawBufferPointer, in latest: inout Acknowledgement?) {
        let received = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        let executed = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        latest = Acknowledgement(received: max(latest?.received ?? 0, received), executed: max(latest?.executed ?? 0, executed))
    }
}
