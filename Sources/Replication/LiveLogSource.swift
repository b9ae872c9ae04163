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
    /// Entries consumed since the ring was last looked at (`receive`).
    private var sinceReceive = 0
    /// While entries already scanned wait to be replayed, the ring is looked at again only
    /// after this many, or at the next slice's scheduling entry, whichever comes first: an
    /// arrival is then acknowledged at most 32 entries or one slice of replay late. Looking
    /// before every entry read the clock (about 20 ns here) for every entry each time the
    /// primary's next batch was already visible but not yet due (its delivery time ahead).
    static let receiveInterval = 32
    /// The latest ACK the ACK ring had no room for, sent at the next look at the ring.
    private var deferred: Acknowledgement?
    /// Every ACK sent, with its delivery time, when tracing (for `OutputRuleAudit`).
    private(set) var sentAcks: [(received: UInt64, deliveredAt: UInt64)]?

    /// Where every received entry is recorded, if anywhere.
    let recorder: TraceWriter?
    /// Failure detection: an ACK goes out at least every `heartbeat` (the primary's proof of
    /// life); no entry for `failureTimeout` means the primary failed (`PrimarySilent`).
    private let heartbeat: UInt64
    private let failureTimeout: UInt64
    private(set) var lastHeard: UInt64
    /// Partitions and latency spikes to apply on receipt, if any are planned.
    private let linkFaults: FaultSchedule?
    /// When an injected crash of this side is due (`.max`: none): waiting stops there.
    private let crashDeadline: UInt64

    init(_ end: LogChannel.BackupEnd, policy: AckPolicy, tracing: Bool = false, recorder: TraceWriter? = nil,
         heartbeat: UInt64 = .max, failureTimeout: UInt64 = .max, linkFaults: FaultSchedule? = nil, crashDeadline: UInt64 = .max) {
        log = end.log
        acks = end.acks
        batcher = AckBatcher(policy: policy)
        sentAcks = tracing ? [] : nil
        self.recorder = recorder
        self.heartbeat = heartbeat
        self.failureTimeout = failureTimeout
        self.linkFaults = linkFaults
        self.crashDeadline = crashDeadline
        lastHeard = monotonicNanos()
        lastReport = lastHeard
    }

    func next() throws -> LogEntryView? {
        if sinceReceive < Self.receiveInterval, let entry = try takeScanned(), entry.header.kind != .scheduling { return entry }
        sinceReceive = 0
        while true {
            let received = try receive()
            if let entry = try takeScanned() {
                if entry.header.kind == .scheduling { reportProgressIfDue() }
                return entry
            }
            let now = monotonicNanos()
            if now >= crashDeadline { throw CrashDue() }
            if !log.isClosed, now > adding(lastHeard, failureTimeout) { throw PrimarySilent(lastHeard: lastHeard, detectedAt: now) }
            // Caught up: report how far it has executed (at most once per millisecond), without
            // acknowledging anything new (the ACK policy alone decides that). Otherwise a
            // primary throttled for lag, which logs nothing, would never hear that the backup
            // caught up. The same report is the backup's heartbeat.
            var progressDeadline = adding(lastReport, heartbeat)
            if executed > reportedExecuted { progressDeadline = min(progressDeadline, lastReport + Self.progressInterval) }
            if now >= progressDeadline {
                reportProgress()
                progressDeadline = adding(now, heartbeat)
            }
            let deadline = min(batcher.nextDeadline ?? .max, progressDeadline, adding(lastHeard, failureTimeout, 1), crashDeadline)
            if let due = received.nextDue {
                // A run that ends normally closes the channel only once the backup has received
                // (and acknowledged) the whole log; an entry still in flight then means the run
                // was cut short (the watchdog, a failed primary), and waiting for it is pointless.
                if log.isClosed {
                    throw ReplicationError("the channel closed with entries still in flight (the next due in \(ChannelProfile.compact(nanos: due - now)))")
                }
                // In steps of at most 10 ms, so that a closed channel is noticed.
                waitUntil(min(due, deadline, now + 10_000_000))
            } else if log.isClosed {
                _ = try receive()
                return try takeScanned()
            } else {
                log.waitForMore(until: deadline == .max ? nil : deadline)
            }
        }
    }

    /// The next scanned entry to replay, noting its sequence number for `consume`.
    private func takeScanned() throws -> LogEntryView? {
        guard let entry = try log.peekScanned() else { return nil }
        current = entry.header.seq
        return entry
    }

    func consume() {
        log.consume()
        executed = current
        sinceReceive += 1
        unreleased += 1
        if unreleased >= 64 {
            log.release()
            unreleased = 0
            // While it replays a backlog the backup may receive nothing new for a long time (the
            // ring full, the primary waiting for room or throttled): it still proves it is alive.
            // Checked here, every 64 entries (about 15 µs of replay), so that the replay path
            // pays no extra counter. Without it a backup 100 ms behind went silent for more than
            // the failure timeout and its primary went on alone (11 of the 24 compute FT rows of
            // the first schema-4 reference sets).
            if monotonicNanos() >= adding(lastReport, heartbeat) {
                reportProgress()
            }
        }
    }

    /// Reads ahead whatever has arrived, acknowledging per the policy. Reads the clock only when
    /// the policy needs it: an entry arrived, or a time-based ACK is pending.
    private func receive() throws -> DrainResult {
        if let deferred { send(deferred) }
        var now: UInt64?
        var ackUpTo: UInt64?
        var delay: UInt64 = 0
        if let linkFaults {
            let t = monotonicNanos()
            now = t
            delay = linkFaults.linkDelay(at: t)
        }
        let result = try log.scanEncoded(delay: delay) { entry, encoded in
            recorder?.append(encoded: UnsafeRawBufferPointer(rebasing: encoded[0 ..< LogEntryCodec.encodedSize(payloadLength: entry.payload.count)]))
            let t = now ?? monotonicNanos()
            now = t
            if let seq = batcher.received(seq: entry.header.seq, flags: entry.header.flags, now: t) { ackUpTo = seq }
        }
        if result.count > 0, let now { lastHeard = now }
        if ackUpTo == nil, batcher.nextDeadline != nil { ackUpTo = batcher.timerFired(now: now ?? monotonicNanos()) }
        if let seq = ackUpTo { send(Acknowledgement(received: seq, executed: executed)) }
        return result
    }

    /// At a slice's scheduling entry, while entries wait to be replayed: the backup's progress, at
    /// most once per `progressInterval`. The ACK policy counts entries, so a log of few entries
    /// (slices stretched to eight quanta: about 9,000 entries a second on `compute`) would carry
    /// the backup's position every 7 ms only, and a primary throttled for lag, which waits for
    /// an ACK that says the backup caught up, would wait as long.
    private func reportProgressIfDue() {
        if executed > reportedExecuted, monotonicNanos() >= lastReport + Self.progressInterval { reportProgress() }
    }

    /// An ACK that acknowledges nothing new and reports how far the backup has executed: its
    /// progress, and its heartbeat.
    private func reportProgress() { send(Acknowledgement(received: acknowledgedReceived, executed: executed)) }

    private func send(_ ack: Acknowledgement) {
        // The backup never waits for room on the ACK ring: its primary may be waiting for room
        // on the log ring inside a slice, where it takes no ACKs off, and then neither moves
        // (main did, with 64-slot rings and slices of thousands of entries: the watchdog ended
        // such runs). ACKs are cumulative, so the next one sent carries this one.
        guard acks.hasRoom else {
            deferred = ack
            return
        }
        deferred = nil
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

extension LiveLogSource {
    /// After the replay: sends an ACK that found no room, once the primary (draining its ACKs
    /// as it waits for the end-of-log entry's) makes some, for at most `timeout`.
    func sendDeferred(timeout: UInt64) {
        let deadline = adding(monotonicNanos(), timeout)
        while let deferred, !log.isClosed, monotonicNanos() < deadline {
            send(deferred)
            if self.deferred != nil { sleepNanos(20_000) }
        }
    }
}

/// The backup heard nothing from its primary (no entry, no heartbeat) for the failure timeout.
struct PrimarySilent: Error {
    let lastHeard: UInt64
    let detectedAt: UInt64
}

/// The backup's injected crash is due while it waits for the log.
struct CrashDue: Error {}

/// `a + b + c`, saturating at `.max` (for deadlines that may be "never").
@inline(__always)
func adding(_ a: UInt64, _ b: UInt64, _ c: UInt64 = 0) -> UInt64 {
    let (ab, o1) = a.addingReportingOverflow(b)
    let (abc, o2) = ab.addingReportingOverflow(c)
    return o1 || o2 ? .max : abc
}
