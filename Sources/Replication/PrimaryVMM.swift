import GuestVM
import Histogram
import LogChannel
import Topology

/// The primary's VMM: answers the guest's non-deterministic inputs for real (host clock, a seeded
/// generator, a wall-clock timer, client requests by DMA), logs each with its exact instruction
/// position, and applies the output rule.
///
/// Log entries, in the order the backup needs them: at the start of each slice, the injections
/// due (interrupt, client request) and then a scheduling entry `(vCPU, from, until)`, which is
/// also the progress entry: it vouches that nothing happens on that vCPU before `until` except
/// what the slice itself logs (clock and random reads, output markers). The backup therefore
/// never executes past what the log has vouched for.
///
/// The output rule: an output is preceded by an output marker (flagged `precedesOutput`, so an
/// output-aware ACK policy acknowledges it at once), held, and released when an ACK covers the
/// marker. Execution never waits for it: held outputs are released in batches whenever the
/// primary sees an ACK, between slices and while the guest idles.
final class PrimaryDriver<Client: ClientLoad>: HostDriver {
    let options: ReplicationOptions
    unowned let machine: Machine
    let log: LogSender?
    let acks: AckReceiver?
    var client: Client
    let outputs: OutputRule
    private var timer = TimerDevice()
    private var random: SplitMix64
    private let requestBuffer: UnsafeMutableRawBufferPointer
    private var nextSeq: UInt64 = 1
    private(set) var lastSeq: UInt64 = 0
    private var lastStamped: UInt64 = 0
    /// When entries were published, for the backup's lag.
    private let published = FlushHistory()
    private(set) var acknowledged: UInt64 = 0
    /// The backup's replay position from the latest ACK.
    private var acknowledgedExecuted: UInt64 = 0

    let start: UInt64
    let measureFrom: UInt64
    let endAt: UInt64
    private(set) var measuring = false
    private(set) var finished = false

    // Measurements (over the window after warm-up, where it matters).
    var stats = PrimaryStats()
    var heldOutputs = Histogram<UInt64>(highestTrackableValue: 1 << 20, numberOfSignificantValueDigits: .three)
    var backupLagMicros = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var currentLag: UInt64 = 0
    private(set) var instructionsAtWindowStart: UInt64 = 0

    var totalInstructions: UInt64 { (0..<machine.vcpuCount).reduce(0) { $0 + machine.instructionCount(vcpu: $1) } }
    var timerTicks: Int { timer.ticks }

    init(options: ReplicationOptions, machine: Machine, channel: LogChannel?, client: Client) {
        self.options = options
        self.machine = machine
        log = channel?.primary.log
        acks = channel?.primary.acks
        self.client = client
        outputs = OutputRule(tracing: options.traceOutputs, early: options.sabotage.releaseOneEntryEarly ? 1 : 0)
        random = SplitMix64(seed: options.seed)
        requestBuffer = .allocate(byteCount: 64 << 10, alignment: 64)
        start = monotonicNanos()
        measureFrom = start + options.warmupNanos
        endAt = start + options.durationNanos
    }

    deinit {
        requestBuffer.deallocate()
    }

    var isFinished: Bool { finished }

    // MARK: HostDriver

    func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        // Once the run is over nothing more is logged: the vCPUs after the one whose slice
        // ended it still get this call in the same round, and an injection logged for them
        // would follow the last slice the backup replays (a false divergence).
        if finished { return }
        let now = monotonicNanos()
        if timer.tick(machine, vcpu: vcpu, now: now) {
            var line = Interrupt.timer.rawValue
            try withUnsafeBytes(of: &line) { try append(.interrupt, vcpu: vcpu, count: count, payload: $0) }
        }
        guard let buffer = machine.devices.dmaBuffer, buffer.vcpu == vcpu,
              let due = client.nextIntendedTime, due <= now else { return }
        let length = client.sendNext(into: requestBuffer, now: now)
        let request = UnsafeRawBufferPointer(rebasing: requestBuffer[..<length])
        guard machine.deliverDMA(request) == .delivered(vcpu: vcpu) else {
            throw ReplicationError("a \(length)-byte request does not fit the guest's \(buffer.length)-byte receive buffer")
        }
        try append(.clientRequest, vcpu: vcpu, count: count, payload: request)
        stats.requestsSent += 1
    }

    func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) -> UInt64 {
        let now = monotonicNanos()
        checkClock(now)
        if finished { return count }
        serviceAcks(now)
        var until = quantumEnd.littleEndian
        do {
            try withUnsafeBytes(of: &until) { try append(.scheduling, vcpu: vcpu, count: count, payload: $0) }
        } catch {
            // The backup closed the channel (it diverged or failed): the run ends here.
            finished = true
            return count
        }
        flush(now)
        return quantumEnd
    }

    func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        let isClock: Bool
        if case .clockRead = exit { isClock = true } else { isClock = false }
        let value = isClock ? monotonicNanos() : random.next()
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { try append(isClock ? .clockRead : .randomRead, vcpu: vcpu, count: count, payload: $0) }
        return value
    }

    func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        stats.outputs += 1
        let now = monotonicNanos()
        guard let log else {
            client.receive(bytes, now: now)
            return
        }
        var marker = (UInt64(stats.outputs).littleEndian, outputHash(bytes).littleEndian)
        try withUnsafeBytes(of: &marker) { try append(.outputMarker, vcpu: vcpu, count: count, flags: .precedesOutput, payload: $0) }
        flush(now)
        let tag = lastSeq
        if options.sabotage.releaseOnHold, outputs.hold(bytes, tag: tag) {
            outputs.release(upTo: .max) { client.receive($0, now: now) }
            return
        }
        if !outputs.hold(bytes, tag: tag) {
            // No room to hold it: the primary waits for ACKs (counted as a stall).
            let stalled = monotonicNanos()
            while !outputs.hold(bytes, tag: tag) {
                if log.isClosed { throw ReplicationError("the backup stopped acknowledging with \(outputs.heldCount) outputs held") }
                cpuRelax()
                serviceAcks(monotonicNanos())
            }
            stats.outputStallNanos += monotonicNanos() - stalled
        }
        if measuring { heldOutputs.record(UInt64(outputs.heldCount)) }
    }

    func idle(_ machine: Machine) throws -> Bool {
        flush(monotonicNanos())
        while true {
            let now = monotonicNanos()
            checkClock(now)
            if finished { return false }
            serviceAcks(now)
            let wantsRequest = machine.devices.dmaBuffer != nil
            let nextRequest = wantsRequest ? client.nextIntendedTime : nil
            let nextTick = timer.deadline(machine, now: now)
            if let t = nextRequest, t <= now { return true }
            if let t = nextTick, t <= now { return true }
            guard nextRequest != nil || nextTick != nil || outputs.heldCount > 0 else { return false }
            let deadline = min(nextRequest ?? .max, nextTick ?? .max, endAt)
            if outputs.heldCount > 0, let acks {
                // ACKs may come at any moment: poll for them until the next event is due.
                let pollUntil = min(deadline, now + 20_000)
                while monotonicNanos() < pollUntil {
                    if let ack = poll(acks) {
                        note(ack, now: monotonicNanos())
                        break
                    }
                    cpuRelax()
                }
            } else {
                waitUntil(deadline)
            }
        }
    }

    // MARK: Logging and the output rule

    @inline(__always)
    private func append(_ kind: LogEntryKind, vcpu: Int, count: UInt64, flags: LogEntryFlags = [], payload: UnsafeRawBufferPointer) throws(ChannelError) {
        guard let log else { return }
        try log.append(LogEntryHeader(seq: nextSeq, instructionCount: count, vcpu: UInt32(vcpu), kind: kind, flags: flags), payload: payload)
        lastSeq = nextSeq
        nextSeq += 1
    }

    /// Publishes what was logged and notes when, for the lag measurement.
    private func flush(_ now: UInt64) {
        guard let log, lastStamped < lastSeq else { return }
        log.flush()
        published.record(lastSeq: lastSeq, at: now)
        lastStamped = lastSeq
    }

    /// Takes the ACKs that are due, counting those that arrive inside the measurement window.
    @inline(__always)
    private func poll(_ acks: AckReceiver) -> Acknowledgement? {
        guard measuring, !finished else { return acks.poll() }
        var arrived = 0
        let ack = acks.poll(counting: &arrived)
        stats.acksInWindow += arrived
        return ack
    }

    /// Takes any ACKs that have arrived: releases covered outputs, samples the backup's lag, and
    /// slows the primary while the lag exceeds its bound.
    private func serviceAcks(_ now: UInt64) {
        guard let acks, let ack = poll(acks) else { return }
        note(ack, now: now)
        guard currentLag > options.lagBoundNanos else { return }
        let throttled = monotonicNanos()
        while currentLag > options.lagBoundNanos / 2, !finished {
            sleepNanos(50_000)
            let t = monotonicNanos()
            checkClock(t)
            if let ack = poll(acks) { note(ack, now: t) } else { currentLag = lag(executed: acknowledgedExecuted, now: t) }
        }
        stats.throttleNanos += monotonicNanos() - throttled
    }

    private func note(_ ack: Acknowledgement, now: UInt64) {
        acknowledged = max(acknowledged, ack.received + (options.sabotage.bumpAcknowledged ? 1 : 0))
        outputs.release(upTo: acknowledged) { client.receive($0, now: now) }
        guard ack.executed > 0 else { return }
        acknowledgedExecuted = ack.executed
        currentLag = lag(executed: ack.executed, now: now)
        if measuring { backupLagMicros.record(currentLag / 1_000) }
    }

    /// The backup's lag: how long the oldest entry it has not yet replayed has been published,
    /// as of the ACK that reports its progress (so less the ACK's own trip, the profile's one-way
    /// latency); zero once it has replayed everything published.
    private func lag(executed: UInt64, now: UInt64) -> UInt64 {
        guard executed < lastStamped, let sent = published.publishedAt(seq: executed + 1), now > sent else { return 0 }
        let elapsed = now - sent
        return elapsed > options.profile.oneWayLatencyNanos ? elapsed - options.profile.oneWayLatencyNanos : 0
    }

    private func checkClock(_ now: UInt64) {
        if !measuring, now >= measureFrom {
            measuring = true
            client.startMeasuring(now: now)
            stats.windowStart = now
            instructionsAtWindowStart = totalInstructions
            stats.entriesAtWindowStart = lastSeq
            stats.bytesAtWindowStart = log?.bytesSent ?? 0
            stats.stallAtWindowStart = log?.stalls.nanos ?? 0
            stats.throttleAtWindowStart = stats.throttleNanos
            stats.outputStallAtWindowStart = stats.outputStallNanos
        }
        if now >= endAt, !finished {
            finished = true
            client.stopMeasuring(now: now)
        }
    }

    /// After the last slice: publishes the end-of-log entry (with `finalStateHash`, which the
    /// backup's final state must match), which the backup acknowledges at once, then waits (up to
    /// `timeout`) for the ACK covering everything, releasing the outputs it covers.
    func drain(finalStateHash: UInt64, timeout: UInt64) {
        guard let log, let acks else { return }
        var now = monotonicNanos()
        var hash = finalStateHash.littleEndian
        try? withUnsafeBytes(of: &hash) { try append(.endOfLog, vcpu: 0, count: totalInstructions, flags: .acknowledgeNow, payload: $0) }
        flush(now)
        let deadline = now + timeout
        // A closed channel means the backup stopped (it diverged or failed): no ACK will come.
        while acknowledged < lastSeq, now < deadline, !log.isClosed {
            if let ack = poll(acks) { note(ack, now: now) } else { cpuRelax() }
            now = monotonicNanos()
        }
    }
}

/// Counters the primary keeps. Rates are computed over the measurement window.
struct PrimaryStats {
    var requestsSent = 0
    var outputs = 0
    /// ACKs that reached the primary inside the measurement window.
    var acksInWindow = 0
    var throttleNanos: UInt64 = 0
    var outputStallNanos: UInt64 = 0
    var windowStart: UInt64 = 0
    var entriesAtWindowStart: UInt64 = 0
    var bytesAtWindowStart: UInt64 = 0
    var stallAtWindowStart: UInt64 = 0
    var throttleAtWindowStart: UInt64 = 0
    var outputStallAtWindowStart: UInt64 = 0
}

/// A hash of an output's bytes, logged in its marker so the backup can check its own output.
func outputHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hasher = StateHasher()
    hasher.combine(bytes: bytes)
    return hasher.finalize()
}

public struct ReplicationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
