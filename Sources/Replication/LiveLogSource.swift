import LogChannel
import LogTrace
import Topology

/// The live log: the backup end of a `LogChannel`, acknowledging entries as they arrive (before
/// they are executed) according to an `AckPolicy`, and streaming them to a trace file as they
/// arrive when recording.
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

    /// Where every received entry is recorded, if anywhere.
    let recorder: TraceWriter?

    init(_ end: LogChannel.BackupEnd, policy: AckPolicy, tracing: Bool = false, recorder: TraceWriter? = nil) {
        log = end.log
        acks = end.acks
        batcher = AckBatcher(policy: policy)
        sentAcks = tracing ? [] : nil
        self.recorder = recorder
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
        let result = try log.scanEncoded { entry, encoded in
            recorder?.append(encoded: UnsafeRawBufferPointer(rebasing: encoded[0 ..< LogEntryCodec.encodedSize(payloadLength: entry.payload.count)]))
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
