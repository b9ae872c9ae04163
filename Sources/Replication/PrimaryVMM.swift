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
    let context: RunContext<Client>
    unowned let machine: Machine
    let side: Side
    /// The epoch this side owns (or, before a claim, the latest it knows of) and its owner.
    private(set) var epoch: UInt64
    private var epochOwner: Side
    /// The link to the backup, until it fails: then the primary goes on alone.
    private(set) var log: LogSender?
    private(set) var acks: AckReceiver?
    /// The link it logs on now or, after it went on alone, the last one it had (for counters).
    private(set) var sender: LogSender?
    /// The channel of the current link, if it made one (a restored backup's).
    private(set) var link: LogChannel?
    /// Bytes and stall time of the links it had before `sender`.
    private var earlierLinkBytes: UInt64 = 0
    private var earlierLinkStallNanos: UInt64 = 0
    /// With fault tolerance on and no backup: since when (restoring redundancy starts from it).
    private var aloneSince: UInt64?
    private var transfer: StateTransfer?
    private(set) var transfers: [TransferRecord] = []
    let outputs: OutputRule
    private var timer = TimerDevice()
    /// Timeslice interleaving: where slices end early by host time (nil: round robin).
    private var slicer: TimeSlicer?
    /// Round robin with one vCPU: how many quanta a slice may run.
    private var stretcher = SliceStretcher()
    /// Where the last event was injected (a slice starting there is not stretched).
    private var injectedAt: UInt64?
    /// The next seq when the last slice started.
    private var seqAtSliceStart: UInt64 = 0
    private var random: SplitMix64
    private let requestBuffer: UnsafeMutableRawBufferPointer
    private var nextSeq: UInt64
    private(set) var lastSeq: UInt64
    private var lastStamped: UInt64
    /// When entries were published, for the backup's lag and backlog.
    private let published = FlushHistory()
    private(set) var acknowledged: UInt64 = 0
    /// When the network may next have a request for this side (0: ask at the next chance).
    private var requestDue: UInt64 = 0

    // Failure detection.
    /// When the last ACK (or the link's creation) arrived, and when the log was last flushed.
    private var lastHeard: UInt64
    private var lastFlushed: UInt64
    /// While the arbiter cannot be reached: when to try again.
    private var nextClaimAt: UInt64 = 0
    private let crash: CrashPoint?
    private(set) var events: [RoleEvent] = []
    /// Outputs released so far (numbered from `outputBase + 1`), and the last number logged.
    private var released: UInt64
    private var loggedReleased: UInt64
    private(set) var logRate: LogRateRecorder

    let start: UInt64
    let measureFrom: UInt64
    let endAt: UInt64
    private(set) var measuring = false
    /// It was running when the measurement window opened (so its window start is the run's).
    private let bornBeforeWindow: Bool
    var startedWindow: Bool { measuring && bornBeforeWindow }
    private(set) var finished = false

    // Measurements (over the window after warm-up, where it matters).
    var stats = PrimaryStats()
    var heldOutputs = Histogram<UInt64>(highestTrackableValue: 1 << 20, numberOfSignificantValueDigits: .three)
    var backupLagMicros = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    /// The backup's backlog from the latest ACK (`backupBehind`): what flow control acts on.
    private var backlog: UInt64 = 0
    /// When the pause for the backup's backlog under way began (nil: not paused). A heartbeat
    /// flushed during a pause records it as paused time, or the backlog would count it as run.
    private var pausedSince: UInt64?
    private(set) var instructionsAtWindowStart: UInt64 = 0

    var totalInstructions: UInt64 { machine.totalInstructions }
    var timerTicks: Int { timer.ticks }

    /// - Parameters:
    ///   - channel: the link to a backup (nil: fault tolerance off, or a new primary alone).
    ///   - firstSeq: the seq of the first entry it logs (a new primary continues the old log's).
    ///   - outputBase: outputs the guest produced before this primary took over.
    init(context: RunContext<Client>, machine: Machine, channel: LogChannel?, side: Side = .a, epoch: UInt64 = 1,
         firstSeq: UInt64 = 1, outputBase: UInt64 = 0) {
        let options = context.options
        self.options = options
        self.context = context
        self.machine = machine
        self.side = side
        self.epoch = epoch
        epochOwner = side
        let end = channel?.openPrimaryEnd()
        log = end?.log
        acks = end?.acks
        sender = log
        outputs = OutputRule(tracing: options.traceOutputs, early: options.sabotage.releaseOneEntryEarly ? 1 : 0)
        random = SplitMix64(seed: options.seed ^ UInt64(side.rawValue) << 32)
        slicer = options.timesliceNanos.map(TimeSlicer.init)
        requestBuffer = .allocate(byteCount: 64 << 10, alignment: 64)
        nextSeq = firstSeq
        lastSeq = firstSeq - 1
        lastStamped = firstSeq - 1
        released = outputBase
        loggedReleased = outputBase
        stats.outputs = Int(outputBase)
        crash = CrashPoint(context.faults, role: .primary)
        start = context.start
        measureFrom = context.measureFrom
        endAt = context.endAt
        bornBeforeWindow = monotonicNanos() < context.measureFrom
        logRate = LogRateRecorder(start: context.start, durationNanos: options.durationNanos)
        let now = monotonicNanos()
        lastHeard = now
        lastFlushed = now
        if channel == nil, options.faultTolerance { aloneSince = now }
        events.reserveCapacity(64)
        checkClock(now)
    }

    deinit {
        requestBuffer.deallocate()
    }

    var isFinished: Bool { finished }

    /// The guest's instructions and their time in the interpreter over this primary's plain
    /// slices: its core's speed on this guest, beside the backup's (`ReplicationReport.coreRatio`).
    private(set) var interpreterTime = InterpreterTime()

    // MARK: HostDriver

    static var timesPlainSlices: Bool { true }

    func ranPlainSlice(instructions: UInt64, nanos: UInt64) {
        interpreterTime.add(instructions: instructions, nanos: nanos)
    }

    func injectEvents(into machine: Machine, vcpu: Int, count: UInt64) throws {
        // Once the run is over nothing more is logged: the vCPUs after the one whose slice
        // ended it still get this call in the same round, and an injection logged for them
        // would follow the last slice the backup replays (a false divergence).
        if finished { return }
        let now = monotonicNanos()
        if timer.tick(machine, vcpu: vcpu, now: now) {
            var line = Interrupt.timer.rawValue
            try withUnsafeBytes(of: &line) { try append(.interrupt, vcpu: vcpu, count: count, payload: $0) }
            injectedAt = count
        }
        guard let buffer = machine.devices.dmaBuffer, buffer.vcpu == vcpu, now >= requestDue else { return }
        let taken = context.network.takeRequest(for: side, epoch: epoch, into: requestBuffer, now: now)
        guard case .taken(let length, _) = taken else {
            if case .notYet(let due) = taken { requestDue = min(due ?? .max, now + Self.ownershipRecheck) }
            return
        }
        requestDue = 0
        let request = UnsafeRawBufferPointer(rebasing: requestBuffer[..<length])
        guard machine.deliverDMA(request) == .delivered(vcpu: vcpu) else {
            throw ReplicationError("a \(length)-byte request does not fit the guest's \(buffer.length)-byte receive buffer")
        }
        try append(.clientRequest, vcpu: vcpu, count: count, payload: request)
        injectedAt = count
        stats.requestsSent += 1
    }

    /// How often a side that got no request asks the network again at most 1 ms later, so
    /// that a change of owner or a re-send is noticed.
    static var ownershipRecheck: UInt64 { 1_000_000 }

    func sliceEnd(vcpu: Int, count: UInt64, quantumEnd: UInt64) throws -> UInt64 {
        // The slice's scheduling entry goes to a ring line the backup's core has taken since the
        // last one: ask for it now, so that it travels while the ACKs are serviced (with the
        // vCPUs far apart, 0.6-1.3% of the primary's `compute` samples waited on it in a
        // diagnostic build: docs/LOGCHANNEL.md, "Publishing without a fence").
        log?.prefetchNextEntry()
        var now = monotonicNanos()
        checkClock(now)
        if finished { return count }
        var end = stretcher.end(from: count, quantumEnd: quantumEnd, instructions: totalInstructions, now: now,
                                quietUntil: quietUntil(count: count, now: now))
        seqAtSliceStart = nextSeq
        if let crash {
            // Crashes strike here, before the slice's entries are flushed: those are lost.
            let total = totalInstructions
            if crash.isDue(at: now, instructions: total) { throw strike(crash, now: now) }
            if crash.instructions != .max { end = min(end, count + (crash.instructions - total)) }
        }
        if let faults = context.faults, faults.awaitsInstructionCount { faults.noteProgress(instructions: totalInstructions, now: now) }
        // Time slices run with or without a backup: FT off measures the same schedule.
        slicer?.start(count: count, now: now)
        now = try serviceAcks(now)
        // A transfer completed here goes on to log this slice on the new backup's link.
        if log == nil, aloneSince != nil { try restoreRedundancy(now, atRoundStart: vcpu == 0) }
        guard let log else { return end }
        if !log.hasQuarterFree {
            try waitForRoom(log)
            now = monotonicNanos()
        }
        try logReleases(vcpu: vcpu, count: count)
        try append(.scheduling, vcpu: vcpu, count: count, flags: slicer == nil ? [] : .preemptible, value: end)
        // The backup closed the channel: the slice is not run. (Not `finished`: the run's end,
        // noticed while servicing ACKs above, comes after this slice, which is logged.)
        if log.isClosed { return count }
        flush(now)
        return end
    }

    /// The earliest deadline before which nothing will be injected into a single-vCPU guest
    /// slice starting at `count`, or nil if it may come sooner than a quantum (`SliceStretcher`).
    private func quietUntil(count: UInt64, now: UInt64) -> UInt64? {
        guard machine.vcpuCount == 1, slicer == nil, crash == nil, context.faults == nil, injectedAt != count,
              machine.devices.dmaBuffer == nil, outputs.heldCount == 0, log != nil || aloneSince == nil,
              nextSeq - seqAtSliceStart <= SliceStretcher.maximumEntries else { return nil }
        return min(timer.deadline(machine, now: now) ?? .max, endAt, measureFrom > now ? measureFrom : .max)
    }

    /// Timeslice interleaving: the slice ends here when its host time is up, and the switch is
    /// logged. Alone (no backup), it still switches by time: the guest runs as it would with one.
    func sliceLimit(vcpu: Int, count: UInt64, end: UInt64) throws -> UInt64 {
        guard let limit = slicer?.limit(count: count, end: end) else { return end }
        if limit == count, count < end, log != nil {
            try append(.preempt, vcpu: vcpu, count: count, payload: UnsafeRawBufferPointer(start: nil, count: 0))
            stats.switches += 1
        }
        return limit
    }

    func value(for exit: Exit, vcpu: Int, count: UInt64) throws -> UInt64 {
        let isClock: Bool
        if case .clockRead = exit { isClock = true } else { isClock = false }
        let value = isClock ? monotonicNanos() : random.next()
        try append(isClock ? .clockRead : .randomRead, vcpu: vcpu, count: count, value: value)
        return value
    }

    func output(_ bytes: UnsafeRawBufferPointer, vcpu: Int, count: UInt64) throws {
        stats.outputs += 1
        let now = monotonicNanos()
        guard let log else { return sendDirectly(bytes, now: now) }
        var marker = (UInt64(stats.outputs).littleEndian, outputHash(bytes).littleEndian)
        try withUnsafeBytes(of: &marker) { try append(.outputMarker, vcpu: vcpu, count: count, flags: .precedesOutput, payload: $0) }
        flush(now)
        let tag = lastSeq
        if options.sabotage.releaseOnHold, outputs.hold(bytes, tag: tag) {
            releaseHeld(upTo: .max, now: now)
            return
        }
        if !outputs.hold(bytes, tag: tag) {
            // No room to hold it: the primary waits for ACKs (counted as a stall).
            let stalled = monotonicNanos()
            while self.log != nil, !outputs.hold(bytes, tag: tag) {
                if log.isClosed { throw ReplicationError("the backup stopped acknowledging with \(outputs.heldCount) outputs held") }
                cpuRelax()
                try serviceAcks(monotonicNanos())
            }
            stats.outputStallNanos += monotonicNanos() - stalled
            // The backup failed meanwhile and this side went on alone: the output leaves now.
            if self.log == nil { return sendDirectly(bytes, now: monotonicNanos()) }
        }
        if measuring { heldOutputs.record(UInt64(outputs.heldCount)) }
    }

    func idle(_ machine: Machine) throws -> Bool {
        flush(monotonicNanos())
        while true {
            var now = monotonicNanos()
            checkClock(now)
            if finished { return false }
            now = try serviceAcks(now)
            try heartbeatIfQuiet(now)
            if log == nil, aloneSince != nil { try restoreRedundancy(now, atRoundStart: true) }
            let wantsRequest = machine.devices.dmaBuffer != nil
            let nextRequest = wantsRequest ? context.network.nextRequestTime(for: side, epoch: epoch).map { min($0, now + Self.ownershipRecheck) } ?? now + Self.ownershipRecheck : nil
            let nextTick = timer.deadline(machine, now: now)
            if let t = nextRequest, t <= now { return true }
            if let t = nextTick, t <= now { return true }
            // A crash lands between events: one due at the same instant is taken first, and
            // lost with the slice that takes it.
            if let crash, now >= crash.deadline { throw strike(crash, now: now) }
            guard nextRequest != nil || nextTick != nil || outputs.heldCount > 0 else { return false }
            var deadline = min(nextRequest ?? .max, nextTick ?? .max, endAt, crash?.deadline ?? .max)
            // A transfer in progress, or one that may start, goes on while the guest idles.
            if log == nil, let aloneSince { deadline = min(deadline, transfer != nil ? now + 20_000 : max(now + 1_000_000, restoreAt(aloneSince))) }
            if log != nil { deadline = min(deadline, lastFlushed + options.heartbeat, lastHeard + options.failureTimeout + 1) }
            if outputs.heldCount > 0, let acks {
                // ACKs may come at any moment: poll for them until the next event is due.
                let pollUntil = min(deadline, now + 20_000)
                while monotonicNanos() < pollUntil {
                    let t = monotonicNanos()
                    if let ack = poll(acks, now: t) {
                        note(ack, now: t)
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

    /// Logs an entry. A closed channel means the backup stopped and said so (it diverged or
    /// failed, and reports why): the run ends here, and nothing more is logged.
    @inline(__always)
    private func append(_ kind: LogEntryKind, vcpu: Int, count: UInt64, flags: LogEntryFlags = [], payload: UnsafeRawBufferPointer) throws(ChannelError) {
        guard let log else { return }
        do {
            try log.append(LogEntryHeader(seq: nextSeq, instructionCount: count, vcpu: UInt32(vcpu), kind: kind, flags: flags), payload: payload)
        } catch .closed {
            finished = true
            return
        }
        lastSeq = nextSeq
        nextSeq += 1
    }

    @inline(__always)
    private func append(_ kind: LogEntryKind, vcpu: Int, count: UInt64, flags: LogEntryFlags = [], value: UInt64) throws(ChannelError) {
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { bytes throws(ChannelError) in try append(kind, vcpu: vcpu, count: count, flags: flags, payload: bytes) }
    }

    /// Publishes what was logged, as sent at `now`, and notes when, for the lag measurement.
    private func flush(_ now: UInt64) {
        guard let log, lastStamped < lastSeq else { return }
        log.flush(sentAt: now)
        published.record(lastSeq: lastSeq, at: now, pausedNanos: stats.throttleNanos + (pausedSince.map { now > $0 ? now - $0 : 0 } ?? 0))
        lastStamped = lastSeq
        lastFlushed = now
        logRate.record(total: linkBytes, at: now)
    }

    /// The log ring is three quarters full: waits for room here, where a backup that has failed
    /// meanwhile is still detected, rather than inside the ring, where it would not be. (A slice
    /// that fills the ring by itself still waits inside it: the watchdog ends such a run.)
    private func waitForRoom(_ log: LogSender) throws {
        let started = monotonicNanos()
        // What this slice logged must become visible, or the backup could never free the room.
        flush(started)
        defer { stats.ringWaitNanos += monotonicNanos() - started }
        while self.log != nil, !log.hasQuarterFree, !log.isClosed {
            sleepNanos(20_000)
            let t = monotonicNanos()
            checkClock(t)
            try serviceAcks(t)
        }
    }

    /// Logs how far outputs have been released, if that moved since it was last logged: the
    /// backup re-sends only the outputs after it should it take over.
    private func logReleases(vcpu: Int, count: UInt64) throws(ChannelError) {
        guard released > loggedReleased else { return }
        try append(.outputsReleased, vcpu: vcpu, count: count, value: released)
        loggedReleased = released
    }

    /// With no backup (fault tolerance off, or gone on alone) an output leaves at once.
    private func sendDirectly(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        released += 1
        context.network.deliver(bytes, from: side, epoch: epoch, now: now)
    }

    /// A primary that has logged nothing for a heartbeat period logs a heartbeat, so that its
    /// backup can tell it from a dead one.
    private func heartbeatIfQuiet(_ now: UInt64) throws {
        guard log != nil, now >= lastFlushed + options.heartbeat else { return }
        try logReleases(vcpu: 0, count: machine.instructionCount(vcpu: 0))
        try append(.heartbeat, vcpu: 0, count: machine.instructionCount(vcpu: 0), value: now)
        flush(now)
    }

    /// Takes the ACKs that are due, counting those that arrive inside the measurement window.
    @inline(__always)
    private func poll(_ acks: AckReceiver, now: UInt64) -> Acknowledgement? {
        let delay = context.linkFaults?.linkDelay(at: now) ?? 0
        var arrived = 0
        let ack = acks.poll(counting: &arrived, delay: delay, now: now)
        if measuring, !finished { stats.acksInWindow += arrived }
        if arrived > 0 {
            lastHeard = now
            nextClaimAt = 0
        }
        return ack
    }

    /// Takes any ACKs that have arrived: releases covered outputs, samples the backup's lag, and
    /// pauses the primary while the backup's backlog exceeds the lag bound, until it is back under
    /// `lagResume`. Declares the backup failed after the failure timeout without a word from it.
    /// Returns the time after: `now`, or later if it paused the primary (what it logs next is
    /// stamped then: stamped with `now`, the slice's scheduling entry looked published a pause
    /// earlier than it was, and the backup's lag measured that much longer).
    ///
    /// Why the backlog and not the lag: the lag is the age of the oldest entry not yet replayed,
    /// and while the primary stands still it falls only as fast as the backup outruns the primary
    /// (it grows if the backup is slower), so a pause that waited for the lag lasted until the
    /// backup had replayed everything and the ACK saying so had come back; then the backup idled
    /// until the primary's next entries reached it. The backlog (`backupBehind`) shrinks as
    /// the backup replays, so a pause ends while the backup still has work; while the primary
    /// runs the two are about equal.
    @discardableResult
    private func serviceAcks(_ now: UInt64) throws -> UInt64 {
        guard let acks else { return now }
        guard let ack = poll(acks, now: now) else {
            try checkBackup(now)
            return now
        }
        note(ack, now: now)
        guard backlog > options.lagBound else { return now }
        let paused = monotonicNanos()
        pausedSince = paused
        defer { pausedSince = nil }
        while backlog > options.lagResume, !finished, self.log != nil {
            sleepNanos(50_000)
            let t = monotonicNanos()
            checkClock(t)
            try heartbeatIfQuiet(t)
            if let ack = poll(acks, now: t) { note(ack, now: t) } else { try checkBackup(t) }
        }
        let resumed = monotonicNanos()
        stats.throttleNanos += resumed - paused
        return resumed
    }

    private func note(_ ack: Acknowledgement, now: UInt64) {
        acknowledged = max(acknowledged, ack.received + (options.sabotage.bumpAcknowledged ? 1 : 0))
        releaseHeld(upTo: acknowledged, now: now)
        guard ack.executed > 0 else { return }
        let (lag, backlog) = backupBehind(executed: ack.executed, now: now)
        self.backlog = backlog
        if measuring { backupLagMicros.record(lag / 1_000) }
    }

    private func releaseHeld(upTo tag: UInt64, now: UInt64) {
        let network = context.network, side = side, epoch = epoch
        released += UInt64(outputs.release(upTo: tag) { network.deliver($0, from: side, epoch: epoch, now: now) })
    }

    /// After the failure timeout without an ACK the backup is declared failed: the primary asks
    /// the arbiter before it releases anything without ACKs. Won: it goes on alone. Lost (the
    /// backup took over): it halts. Unreachable: it holds its outputs and asks again a heartbeat
    /// later.
    private func checkBackup(_ now: UInt64) throws {
        guard log != nil, now > lastHeard + options.failureTimeout, now >= nextClaimAt else { return }
        if nextClaimAt == 0 { events.append(RoleEvent(side: side, kind: .detected, at: now, epoch: epoch, lastHeard: lastHeard)) }
        switch context.arbiter.claim(by: side, from: epoch, owner: epochOwner) {
        case .won(let won):
            let t = monotonicNanos()
            epoch = won
            epochOwner = side
            context.network.claim(by: side, epoch: won)
            events.append(RoleEvent(side: side, kind: .live, at: t, epoch: won))
            log = nil
            acks = nil
            aloneSince = t
            releaseHeld(upTo: .max, now: t)
        case .lost(let current, _):
            let t = monotonicNanos()
            events.append(RoleEvent(side: side, kind: .halted, at: t, epoch: current))
            throw SideStopped()
        case .unreachable:
            let t = monotonicNanos()
            events.append(RoleEvent(side: side, kind: .arbiterUnreachable, at: t, epoch: epoch))
            nextClaimAt = t + options.heartbeat
        }
    }

    /// Every byte it has sent on any link, transfers included.
    var linkBytes: UInt64 { earlierLinkBytes + (sender?.bytesSent ?? 0) + (transfer?.log.bytesSent ?? 0) }
    var linkStallNanos: UInt64 { earlierLinkStallNanos + (sender?.stalls.nanos ?? 0) }

    private func restoreAt(_ aloneSince: UInt64) -> UInt64 { adding(aloneSince, options.restoreAfterNanos ?? .max) }

    /// Alone with fault tolerance on: once `restoreAfter` has passed and a host is free, starts a
    /// state transfer to it; while one runs, takes its next step. When the new backup holds the
    /// state, logging resumes on its link at the next seq.
    ///
    /// The stop-and-copy waits for the start of a scheduling round (`atRoundStart`: the first
    /// vCPU's slice, or an idle machine), because the restored backup's scheduler starts there:
    /// with several vCPUs, a copy taken before vCPU 2's slice would have the backup begin the
    /// round with vCPU 0 where the primary goes on with vCPU 2.
    private func restoreRedundancy(_ now: UInt64, atRoundStart: Bool) throws {
        if let transfer {
            switch try transfer.step(now: now, outputsProduced: UInt64(stats.outputs), outputsReleased: released, mayStop: atRoundStart) {
            case .copying:
                logRate.record(total: linkBytes, at: now)
            case .restored:
                adopt(transfer)
            case .abandoned:
                endTransfer(transfer)
                aloneSince = monotonicNanos()
            }
            return
        }
        guard let aloneSince, !finished, now >= restoreAt(aloneSince) else { return }
        let options = options
        // The spare is the other host, which reads the new log. Its rings are placed only on
        // nodes the user named: this runs on the live primary's thread, between guest slices, and
        // a placed ring is zeroed up front (4 MiB of log and 1 MiB of ACKs by default), which
        // stalled the guest's replies by about 5 ms right after a go-live: over 20 primary
        // crashes each, interleaved, the outage was median 53.9 ms, max 58.8, with placed rings
        // here, and 51.4 ms, max 53.0, without (issue 9's bound is the 50 ms timeout plus 5 ms).
        // Unplaced, the pages are mapped zero-filled as the link first uses them.
        guard let (spare, channel) = context.spares.invite(from: side, epoch: epoch, makeLink: {
            LogChannel(profile: options.profile, capacity: options.logCapacity, logNode: options.memoryNode(of: side.other),
                       ackNode: options.memoryNode(of: side), wait: options.wait, seed: options.seed &+ nextSeq)
        }) else { return }
        let record = TransferRecord(from: side, to: spare, epoch: epoch, startedAt: monotonicNanos())
        transfer = StateTransfer(machine: machine, channel: channel, firstSeq: nextSeq, record: record,
                                 failureTimeout: options.failureTimeout, untrackedWrites: options.sabotage.untrackedWrites)
    }

    /// The new backup holds the state: its link becomes the log.
    private func adopt(_ transfer: StateTransfer) {
        let t = transfer.record.resumedAt ?? monotonicNanos()
        earlierLinkBytes += sender?.bytesSent ?? 0
        earlierLinkStallNanos += sender?.stalls.nanos ?? 0
        link = transfer.channel
        // The transfer's end carries on: one sender paces the link's bandwidth throughout.
        log = transfer.log
        acks = transfer.acks
        sender = log
        nextSeq = transfer.nextSeq
        lastSeq = nextSeq - 1
        lastStamped = lastSeq
        acknowledged = lastSeq
        loggedReleased = released
        lastHeard = t
        lastFlushed = t
        nextClaimAt = 0
        backlog = 0
        aloneSince = nil
        context.network.inheritHistory(by: transfer.record.to, from: side)
        endTransfer(transfer)
        events.append(RoleEvent(side: side, kind: .restored, at: t, epoch: epoch))
    }

    /// At the end of the run: a transfer still in progress is given up (its link closed).
    func abandonTransfer() {
        guard let transfer else { return }
        _ = transfer.abandon("the run ended first")
        endTransfer(transfer)
    }

    private func endTransfer(_ transfer: StateTransfer) {
        transfers.append(transfer.record)
        self.transfer = nil
    }

    private func strike(_ crash: CrashPoint, now: UInt64) -> SideStopped {
        events.append(crash.strike(context.faults, side: side, epoch: epoch, at: now))
        return SideStopped()
    }

    /// How far behind the backup is, as of an ACK that says it has executed up to `executed`,
    /// both less the link's one-way latency (the ACK's trip; the entries in flight):
    /// - the lag: how long the oldest entry it has not yet replayed has been published; zero once
    ///   it has replayed everything published;
    /// - the backlog: how long the primary ran (its pauses for lag left out) from publishing that
    ///   entry to its latest flush. It is at most the lag, about equal to it while the primary
    ///   runs, and falls as the backup replays.
    private func backupBehind(executed: UInt64, now: UInt64) -> (lag: UInt64, backlog: UInt64) {
        guard executed < lastStamped, let publication = published.publication(of: executed + 1) else { return (0, 0) }
        let oneWay = options.profile.oneWayLatencyNanos
        func lessOneWay(_ span: UInt64) -> UInt64 { span > oneWay ? span - oneWay : 0 }
        return (lessOneWay(now > publication.at ? now - publication.at : 0), lessOneWay(publication.runningSince))
    }

    private func checkClock(_ now: UInt64) {
        if !measuring, now >= measureFrom {
            measuring = true
            context.network.startMeasuring(now: now)
            stats.windowStart = now
            instructionsAtWindowStart = totalInstructions
            stats.entriesAtWindowStart = lastSeq
            stats.switchesAtWindowStart = stats.switches
            stats.bytesAtWindowStart = linkBytes
            stats.stallAtWindowStart = linkStallNanos
            stats.throttleAtWindowStart = stats.throttleNanos
            stats.outputStallAtWindowStart = stats.outputStallNanos
            stats.ringWaitAtWindowStart = stats.ringWaitNanos
        }
        if now >= endAt, !finished {
            finished = true
            context.network.stopMeasuring(now: now)
        }
    }

    /// After the last slice: publishes the end-of-log entry (with `finalStateHash`, which the
    /// backup's final state must match), which the backup acknowledges at once, then waits (up to
    /// `timeout`) for the ACK covering everything, releasing the outputs it covers. A backup that
    /// fails meanwhile is handled as during the run (the arbiter, then alone or halted).
    func drain(finalStateHash: UInt64, timeout: UInt64) throws {
        guard let log, let acks else { return }
        var now = monotonicNanos()
        // A closed channel means the backup stopped (it diverged or failed) and said so.
        try append(.endOfLog, vcpu: 0, count: totalInstructions, flags: .acknowledgeNow, value: finalStateHash)
        if log.isClosed { return }
        flush(now)
        let deadline = now + timeout
        // A closed channel means the backup stopped (it diverged or failed): no ACK will come.
        while self.log != nil, acknowledged < lastSeq, now < deadline, !log.isClosed {
            if let ack = poll(acks, now: now) { note(ack, now: now) } else {
                try checkBackup(now)
                cpuRelax()
            }
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
    /// Waiting for a quarter of the log ring to free up, between slices.
    var ringWaitNanos: UInt64 = 0
    var ringWaitAtWindowStart: UInt64 = 0
    var windowStart: UInt64 = 0
    var entriesAtWindowStart: UInt64 = 0
    /// Timeslice switches logged (`preempt` entries).
    var switches: UInt64 = 0
    var switchesAtWindowStart: UInt64 = 0
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
