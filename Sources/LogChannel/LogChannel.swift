import Topology

/// The replication link between a primary and a backup: a log ring from primary to backup and
/// an ACK ring back, both with the same emulated network profile.
public struct LogChannel: Sendable {
    public let profile: ChannelProfile
    public let logRing: RingBuffer
    public let ackRing: RingBuffer

    /// The primary's end: it sends log entries and receives ACKs.
    public let primary: PrimaryEnd
    /// The backup's end: it receives log entries and sends ACKs.
    public let backup: BackupEnd

    public struct PrimaryEnd: Sendable {
        public let log: LogSender
        public let acks: AckReceiver
    }

    public struct BackupEnd: Sendable {
        public let log: LogReceiver
        public let acks: AckSender
    }

    /// - Parameters:
    ///   - capacity: log ring slots (64 bytes each), a power of two; the ACK ring gets a quarter.
    ///   - node: NUMA node for both rings (nil: wherever the allocator puts them).
    ///   - seed: seeds the jitter of both directions.
    public init(profile: ChannelProfile, capacity: Int = 1 << 16, node: Int? = nil, wait: WaitStrategy = .default, seed: UInt64 = 1) {
        self.profile = profile
        logRing = RingBuffer(capacity: capacity, node: node, wait: wait)
        ackRing = RingBuffer(capacity: max(64, capacity / 4), node: node, wait: wait)
        primary = PrimaryEnd(
            log: LogSender(DelayLineSender(RingProducer(logRing), profile: profile, seed: seed)),
            acks: AckReceiver(DelayLineReceiver(RingConsumer(ackRing), profile: profile)))
        backup = BackupEnd(
            log: LogReceiver(DelayLineReceiver(RingConsumer(logRing), profile: profile)),
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
public struct LogSender: @unchecked Sendable {
    let line: DelayLineSender

    init(_ line: DelayLineSender) { self.line = line }

    /// Encodes the entry into the ring (copying the payload once), waiting while the ring is full.
    @inline(__always)
    public func append(_ header: LogEntryHeader, payload: UnsafeRawBufferPointer) throws(ChannelError) {
        let destination = try line.reserve(wireBytes: LogEntryCodec.encodedSize(payloadLength: payload.count))
        LogEntryCodec.encode(header, payload: payload, into: destination)
    }

    /// Appends an entry whose payload is one u64 (clock and random values, heartbeats).
    @inline(__always)
    public func append(_ header: LogEntryHeader, value: UInt64) throws(ChannelError) {
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { bytes throws(ChannelError) in try append(header, payload: bytes) }
    }

    /// Appends an entry with no payload.
    @inline(__always)
    public func append(_ header: LogEntryHeader) throws(ChannelError) {
        try append(header, payload: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Makes every appended entry visible to the backup (at its emulated delivery time).
    @inline(__always)
    public func flush() { line.flush() }

    public var entriesSent: UInt64 { line.state.pointee.messages }
    public var bytesSent: UInt64 { line.state.pointee.wireBytes }
    /// Times the ring was full and the total nanoseconds the primary waited for room.
    public var stalls: (count: UInt64, nanos: UInt64) { line.producer.ring.producerStalls }
}

/// Receives log entries on the backup. Use from one thread only.
public struct LogReceiver: @unchecked Sendable {
    let line: DelayLineReceiver

    init(_ line: DelayLineReceiver) { self.line = line }

    /// Hands every entry that is due now (up to `limit`) to `body`, in order, decoded and
    /// checksum-verified in place; the views are valid only during the call. Does not wait.
    /// Throws `LogDecodingError` for a corrupt or truncated entry, which is never handed over.
    @inline(__always)
    public func drain(limit: Int = .max, _ body: (LogEntryView) throws -> Void) throws -> DrainResult {
        try line.drain(limit: limit) { bytes in try body(try LogEntryCodec.decode(bytes)) }
    }

    /// Waits until at least one entry is due, then drains. A count of 0 means the channel was
    /// closed and everything in it has been received.
    public func receive(limit: Int = .max, _ body: (LogEntryView) throws -> Void) throws -> DrainResult {
        try line.receive(limit: limit) { bytes in try body(try LogEntryCodec.decode(bytes)) }
    }
}

/// Sends cumulative acknowledgements from the backup. Use from one thread only.
public struct AckSender: @unchecked Sendable {
    let line: DelayLineSender

    init(_ line: DelayLineSender) { self.line = line }

    /// Acknowledges every log entry up to and including `seq`, and sends it at once.
    public func acknowledge(upTo seq: UInt64) throws(ChannelError) {
        let destination = try line.reserve(wireBytes: 8)
        destination.storeBytes(of: seq.littleEndian, as: UInt64.self)
        line.flush()
    }

    public var acksSent: UInt64 { line.state.pointee.messages }
}

/// Receives acknowledgements on the primary. Use from one thread only.
public struct AckReceiver: @unchecked Sendable {
    let line: DelayLineReceiver

    init(_ line: DelayLineReceiver) { self.line = line }

    /// The highest sequence number acknowledged by the ACKs due now, or nil if none is. Does not
    /// wait.
    @inline(__always)
    public func poll() -> UInt64? {
        var highest: UInt64?
        _ = line.drain(limit: .max) { Self.note($0, in: &highest) }
        return highest
    }

    /// Waits for the next ACK(s) and returns the highest; nil if the channel closed.
    public func next() -> UInt64? {
        var highest: UInt64?
        _ = line.receive(limit: .max) { Self.note($0, in: &highest) }
        return highest
    }

    @inline(__always)
    private static func note(_ ack: UnsafeRawBufferPointer, in highest: inout UInt64?) {
        highest = max(highest ?? 0, UInt64(littleEndian: ack.loadUnaligned(as: UInt64.self)))
    }
}
