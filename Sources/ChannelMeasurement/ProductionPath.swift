import LogChannel

/// The logging channel's production path as a pair of `MessageQueue`s, for the same experiments
/// as the raw ring: log entries encoded by `LogSender` (32-byte header, payload copy, CRC-32C),
/// stamped by the delay line, decoded and checksum-verified by `LogReceiver`; and cumulative
/// acknowledgements back through `AckSender`/`AckReceiver`. On the `loopback` profile no clock is
/// read, so what this adds over the raw ring is the encoding, the checksum and the ACK.
public struct ProductionPath: Sendable {
    public let log: LogPathQueue
    public let acks: AckPathQueue

    /// A spinning loopback channel carrying entries with `payload` bytes of payload.
    public init(payload: Int) {
        let channel = LogChannel(profile: .loopback, capacity: 1 << 12, wait: .spin)
        let primary = channel.openPrimaryEnd(), backup = channel.openBackupEnd()
        log = LogPathQueue(sender: primary.log, receiver: backup.log, payload: payload)
        acks = AckPathQueue(sender: backup.acks, receiver: primary.acks)
    }
}

/// Log entries as messages: message m is the entry with sequence number m (a clock read whose
/// payload starts with m). The payload buffer is allocated once, so sending allocates nothing.
public final class LogPathQueue: MessageQueue, @unchecked Sendable {
    let sender: LogSender
    let receiver: LogReceiver
    let payload: UnsafeMutableRawBufferPointer

    init(sender: LogSender, receiver: LogReceiver, payload: Int) {
        self.sender = sender
        self.receiver = receiver
        self.payload = .allocate(byteCount: max(8, payload), alignment: 8)
        self.payload.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { payload.deallocate() }

    @inline(__always)
    public func send(first: UInt64, count: Int) {
        for i in 0..<UInt64(count) {
            let seq = first &+ i
            payload.storeBytes(of: seq.littleEndian, as: UInt64.self)
            try? sender.append(LogEntryHeader(seq: seq, instructionCount: seq, kind: .clockRead), payload: UnsafeRawBufferPointer(payload))
        }
        sender.flush()
    }

    @inline(__always)
    public func receive(limit: Int) -> (count: Int, last: UInt64) {
        var last: UInt64 = 0
        let result = try? receiver.drain(limit: limit) { entry in last = entry.header.seq }
        return (result?.count ?? 0, last)
    }
}

/// Cumulative acknowledgements as messages: sending `first..<first+count` acknowledges up to the
/// last of them; receiving takes the latest ACK that has arrived.
public final class AckPathQueue: MessageQueue, @unchecked Sendable {
    let sender: AckSender
    let receiver: AckReceiver

    init(sender: AckSender, receiver: AckReceiver) {
        self.sender = sender
        self.receiver = receiver
    }

    @inline(__always)
    public func send(first: UInt64, count: Int) {
        let last = first &+ UInt64(count) &- 1
        try? sender.acknowledge(Acknowledgement(received: last, executed: last))
    }

    @inline(__always)
    public func receive(limit: Int) -> (count: Int, last: UInt64) {
        guard let ack = receiver.poll() else { return (0, 0) }
        return (1, ack.received)
    }
}
