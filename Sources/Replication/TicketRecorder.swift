import GuestVM
import LogChannel
import Topology

/// What the recording vCPUs of a `recorded` primary share: the ticket order, each vCPU's
/// published log position, (FT on) every ring's acknowledgements, and for a guest with devices
/// the published device registers, the clients and a request buffer per vCPU.
final class RecordingShared: @unchecked Sendable {
    let sequencer: Sequencer
    let flushed: PublishedSeqs
    /// Nil with fault tolerance off: nothing to wait for.
    let collectors: [AckCollector]?
    let channels: [LogChannel]
    /// Each ring's primary end, opened once here.
    let primaryEnds: [LogChannel.PrimaryEnd]
    let deadline: FreeRun.Deadline
    let sabotage: Sabotage
    let traceOutputs: Bool
    /// Nil when the guest uses no device instruction.
    let devices: PublishedDevices?
    let clients: (any RecordedClients)?
    /// Per vCPU, where a request is taken (after 8 bytes for its ticket): written by that vCPU's
    /// thread only; freed in `deinit`.
    let requestBuffers: [UnsafeMutableRawBufferPointer]

    /// The largest request a vCPU takes from the clients.
    static let maxRequest = 64 << 10

    init(sequencer: Sequencer, channels: [LogChannel], machine: Machine, deadline: FreeRun.Deadline, options: ReplicationOptions,
         clients: (any RecordedClients)?) {
        self.sequencer = sequencer
        flushed = PublishedSeqs(vcpus: machine.vcpuCount)
        self.channels = channels
        primaryEnds = channels.map { $0.openPrimaryEnd() }
        collectors = channels.isEmpty ? nil : primaryEnds.map { AckCollector($0.acks) }
        self.deadline = deadline
        sabotage = options.sabotage
        traceOutputs = options.traceOutputs
        let usesDevices = RecordedReplication.usesDevices(machine.program)
        devices = usesDevices ? PublishedDevices() : nil
        self.clients = usesDevices ? clients : nil
        requestBuffers = usesDevices ? (0..<machine.vcpuCount).map { _ in .allocate(byteCount: 8 + Self.maxRequest, alignment: 64) } : []
    }

    deinit { requestBuffers.forEach { $0.deallocate() } }
}

/// One vCPU of a `recorded` primary (a `VCPUHost` on its own thread): it takes a ticket for
/// every synchronising instruction and performs the instruction inside the ticket's step, logs
/// tickets, clock and random values and output markers to its own ring at its own instruction
/// counts, and holds each output until every ring has acknowledged what was appended to it
/// before the output (docs/REPLICATION.md, "Several vCPUs").
///
/// Devices: it raises the timer's ticks on its vCPU when the timer ticks there, and delivers
/// client requests by DMA into a receive buffer its vCPU posted, each delivery inside a ticket's
/// step (a DMA write is a write to shared memory that other vCPUs may read with synchronising
/// reads); a vCPU waiting in `wfi` idles on its thread until one of the two wakes it.
///
/// Every entry is flushed as it is appended: a ticket's entry is then visible to the backup (and
/// to other vCPUs' output rule) before the ticket after it is granted.
struct TicketRecorder<Sink: LogSink>: VCPUHost, @unchecked Sendable {
    let vcpu: Int
    let machine: Machine
    let sink: Sink
    let shared: RecordingShared
    var random: SplitMix64
    private(set) var seq: UInt64 = 0
    private(set) var outputs: UInt64 = 0
    private(set) var tickets: UInt64 = 0
    /// Nanoseconds spent holding outputs for ACKs.
    private(set) var holdNanos: UInt64 = 0
    /// Traced outputs: when each left, and every ring's log position when it was issued.
    private(set) var releases: [(releasedAt: UInt64, needed: [UInt64])] = []
    /// Each ring's log position at the output being held (reused: no allocation per output).
    private var needed: [UInt64]
    private var timer = TimerDevice()
    /// When the clients may next have a request for this vCPU (0: ask at the next chance).
    private var requestDue: UInt64 = 0
    private(set) var interrupts: UInt64 = 0
    private(set) var requestsDelivered: UInt64 = 0
    /// Requests taken for a buffer that another vCPU's `dmapost` had replaced by the time the
    /// delivery's ticket came: dropped, and sent again by the clients after their retry time.
    private(set) var requestsDropped: UInt64 = 0

    /// Instructions a vCPU of a guest with devices runs between looks at its devices (tens of
    /// microseconds): a tick or a request waits at most that long for a computing vCPU.
    static var deviceChunk: UInt64 { 1 << 14 }

    /// An idle vCPU sleeps until its next event unless that is this close, then spins: a
    /// sleeping thread leaves its CPU to the others (the backup's, on a machine with fewer CPUs
    /// than threads), at the cost of the kernel's timer slack (about 50 µs) on a wake-up.
    static var idleSpinNanos: UInt64 { 20_000 }

    init(vcpu: Int, machine: Machine, sink: Sink, shared: RecordingShared, seed: UInt64) {
        self.vcpu = vcpu
        self.machine = machine
        self.sink = sink
        self.shared = shared
        random = SplitMix64(seed: seed ^ (UInt64(vcpu) &* 0x9E37_79B9_7F4A_7C15))
        needed = Array(repeating: 0, count: shared.flushed.count)
    }

    func limit(count: UInt64) -> UInt64 {
        let chunk = shared.devices == nil ? FreeRun.chunk : Self.deviceChunk
        return count &+ chunk < count ? .max : count &+ chunk
    }

    func reachedLimit(count: UInt64) -> Bool {
        shared.collectors?[vcpu].poll()  // keeps the ACK ring drained while the guest computes
        return shared.deadline.hasPassed
    }

    mutating func value(for exit: Exit, count: UInt64) throws -> UInt64 {
        let isClock: Bool
        if case .clockRead = exit { isClock = true } else { isClock = false }
        let value = isClock ? monotonicNanos() : random.next()
        try log(isClock ? .clockRead : .randomRead, count: count, value: value)
        return value
    }

    mutating func synchronise(count: UInt64) throws -> GuestFault? {
        let ticket = shared.sequencer.acquire()
        tickets += 1
        if shared.sabotage.performOutsideTicket {
            // Sabotage: the step ends before the operation, which can then take effect after a
            // later ticket's. The yield in between stands for a preemption there, so that the
            // window is hit also when the host runs the two vCPU threads by turns.
            do { try log(.ticket, count: count, value: ticket) } catch {
                shared.sequencer.release(ticket)
                throw error
            }
            shared.sequencer.release(ticket)
            yieldCPU()
            return machine.performSynchronising(vcpu: vcpu)
        }
        defer { shared.sequencer.release(ticket) }
        let writesDevice = shared.devices != nil && machine.nextOpcode(vcpu: vcpu)?.writesDevice == true
        let fault = machine.performSynchronising(vcpu: vcpu)
        if writesDevice { shared.devices?.publish(machine.devices) }
        try log(.ticket, count: count, value: ticket)
        return fault
    }

    /// Raises a timer tick due on this vCPU, and delivers a request due into a buffer this vCPU
    /// posted.
    mutating func injectEvents(count: UInt64) throws {
        guard let devices = shared.devices else { return }
        let now = monotonicNanos()
        if timer.isDue(periodMicros: devices.timerPeriod(on: vcpu), now: now) {
            machine.raise(.timer, vcpu: vcpu)
            interrupts += 1
            var line = Interrupt.timer.rawValue
            try withUnsafeBytes(of: &line) { try append(.interrupt, count: count, payload: $0) }
        }
        guard devices.hasBuffer(postedBy: vcpu), let clients = shared.clients, now >= requestDue else { return }
        let buffer = shared.requestBuffers[vcpu]
        let taken = clients.takeRequest(into: UnsafeMutableRawBufferPointer(rebasing: buffer[8...]), now: now)
        guard let length = taken.length else {
            requestDue = taken.askAgainAt
            return
        }
        requestDue = 0
        try deliver(UnsafeRawBufferPointer(rebasing: buffer[..<(8 + length)]), count: count)
    }

    /// Delivers the request in `entry[8...]` by DMA inside a ticket's step, and logs it with the
    /// ticket in `entry[..<8]`. Under the ticket the buffer is checked again: if another vCPU's
    /// `dmapost` replaced it, the request is dropped and the entry carries the ticket alone.
    private mutating func deliver(_ entry: UnsafeRawBufferPointer, count: UInt64) throws {
        let request = UnsafeRawBufferPointer(rebasing: entry[8...])
        if shared.sabotage.dmaOutsideTicket {
            // Sabotage: the write lands in no place of the order.
            guard machine.deliverDMA(request) == .delivered(vcpu: vcpu) else { throw tooLarge(request) }
            shared.devices?.publish(machine.devices)
            requestsDelivered += 1
            return try append(.clientRequest, count: count, payload: request)
        }
        let ticket = shared.sequencer.acquire()
        defer { shared.sequencer.release(ticket) }
        tickets += 1
        UnsafeMutableRawBufferPointer(mutating: entry).storeBytes(of: ticket.littleEndian, toByteOffset: 0, as: UInt64.self)
        var logged = entry
        if machine.devices.dmaBuffer?.vcpu == vcpu {
            guard machine.deliverDMA(request) == .delivered(vcpu: vcpu) else { throw tooLarge(request) }
            requestsDelivered += 1
        } else {
            requestsDropped += 1
            logged = UnsafeRawBufferPointer(rebasing: entry[..<8])
        }
        shared.devices?.publish(machine.devices)
        try append(.ticketedRequest, count: count, payload: logged)
    }

    private func tooLarge(_ request: UnsafeRawBufferPointer) -> ReplicationError {
        ReplicationError("a \(request.count)-byte request does not fit vCPU \(vcpu)'s receive buffer of \(machine.devices.dmaBuffer?.length ?? 0) bytes")
    }

    /// Waits in `wfi` until a timer tick or a request wakes the vCPU. Only this vCPU's own
    /// devices can: a tick comes to the vCPU that set the timer, a request to the vCPU that
    /// posted the buffer, and this vCPU, waiting, changes neither. With neither, nothing ever
    /// will, and its run ends here.
    mutating func idle(count: UInt64) throws -> IdleOutcome {
        guard let devices = shared.devices else { return .ended }
        while true {
            try injectEvents(count: count)
            if !machine.isWaiting(vcpu: vcpu) { return .woken }
            if shared.deadline.hasPassed { return .stopped }
            let now = monotonicNanos()
            let nextTick = timer.deadline(periodMicros: devices.timerPeriod(on: vcpu), now: now)
            let nextRequest = devices.hasBuffer(postedBy: vcpu) && shared.clients != nil ? requestDue : nil
            guard nextTick != nil || nextRequest != nil else { return .ended }
            shared.collectors?[vcpu].poll()
            waitUntil(min(nextTick ?? .max, nextRequest ?? .max, shared.deadline.value, now &+ 1_000_000), spinBelowNanos: Self.idleSpinNanos)
        }
    }

    mutating func output(_ bytes: UnsafeRawBufferPointer, count: UInt64) throws {
        outputs += 1
        var marker = (outputs.littleEndian, outputHash(bytes).littleEndian)
        seq += 1
        try withUnsafeBytes(of: &marker) { payload throws(ChannelError) in
            try sink.append(LogEntryHeader(seq: seq, instructionCount: count, vcpu: UInt32(vcpu), kind: .outputMarker, flags: .precedesOutput),
                            payload: payload)
        }
        publish()
        if let collectors = shared.collectors {
            for ring in needed.indices { needed[ring] = shared.flushed[ring] }
            try hold(collectors)
            // Traced apart from the hold, so that the audit sees every release, held or not.
            if shared.traceOutputs { releases.append((monotonicNanos(), needed)) }
        }
        shared.clients?.deliver(reply: bytes, now: monotonicNanos())
    }

    mutating func ended(count: UInt64, fault: GuestFault?) throws {
        try log(.endOfLog, count: count, value: outputs, flags: .acknowledgeNow)
    }

    private mutating func log(_ kind: LogEntryKind, count: UInt64, value: UInt64, flags: LogEntryFlags = []) throws(ChannelError) {
        seq += 1
        try sink.append(LogEntryHeader(seq: seq, instructionCount: count, vcpu: UInt32(vcpu), kind: kind, flags: flags), value: value)
        publish()
    }

    private mutating func append(_ kind: LogEntryKind, count: UInt64, payload: UnsafeRawBufferPointer) throws(ChannelError) {
        seq += 1
        try sink.append(LogEntryHeader(seq: seq, instructionCount: count, vcpu: UInt32(vcpu), kind: kind), payload: payload)
        publish()
    }

    @inline(__always)
    private func publish() {
        sink.flush()
        shared.flushed.publish(seq, vcpu: vcpu)
        // Keep this ring's ACKs drained while the guest synchronises often (between its runs
        // of `FreeRun.chunk` instructions the vCPU would otherwise poll only every few ms).
        if seq & 255 == 0 { shared.collectors?[vcpu].poll() }
    }

    /// The output rule across vCPUs: waits until every ring has been acknowledged up to what
    /// had been appended to it when the output was issued (`needed`).
    private mutating func hold(_ collectors: [AckCollector]) throws {
        let began = monotonicNanos()
        for ring in needed.indices where !(shared.sabotage.outputRuleOwnVCPUOnly && ring != vcpu) {
            var spins = 0
            while collectors[ring].acknowledged < needed[ring] {
                collectors[ring].poll()
                if shared.channels[ring].ackRing.isClosed, collectors[ring].acknowledged < needed[ring] { throw ChannelError.closed }
                spins += 1
                if spins & 1023 == 0 { yieldCPU() } else { cpuRelax() }
            }
        }
        holdNanos += monotonicNanos() - began
    }
}
