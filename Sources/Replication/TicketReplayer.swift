import GuestVM
import LogChannel
import Synchronization
import Topology

/// What the replaying vCPUs of a `recorded` backup share: the ticket order, the deadline after
/// which a replay that cannot finish gives up, and the way to stop every vCPU when one stops
/// (a divergence): the order is abandoned and every ring closed, so no thread waits on.
final class ReplayShared: @unchecked Sendable {
    let sequencer: Sequencer
    let channels: [LogChannel]
    let deadline: FreeRun.Deadline
    let sabotage: Sabotage
    let traceAcks: Bool
    /// Set once (releasing) by the first vCPU that stops the replay; read with acquiring.
    private let stopped = Atomic<Bool>(false)

    init(sequencer: Sequencer, channels: [LogChannel], deadline: FreeRun.Deadline, options: ReplicationOptions) {
        self.sequencer = sequencer
        self.channels = channels
        self.deadline = deadline
        sabotage = options.sabotage
        traceAcks = options.traceOutputs
    }

    var isAbandoned: Bool { stopped.load(ordering: .acquiring) }

    func abandon() {
        stopped.store(true, ordering: .releasing)
        sequencer.abandon()
        channels.forEach { $0.close() }
    }
}

/// The backup's replay could not finish: past its deadline (a bounded time after the primary's
/// run ended), it waited for an entry that never came or for an order that stood still.
struct ReplayGaveUp: Error, CustomStringConvertible {
    var description: String
}

/// One vCPU of a `recorded` backup (a `VCPUHost` on its own thread): it runs its vCPU to each
/// entry of its own ring, performs each synchronising instruction when the order reaches the
/// logged ticket, raises logged interrupts and delivers logged requests (a ticketed request when
/// the order reaches its ticket) at their counts, answers clock and random reads from the log,
/// checks outputs against their markers and its end against the end-of-log entry, and
/// acknowledges what it has received.
///
/// ACKs: after a scan that took in an entry flagged `precedesOutput` or `acknowledgeNow`, after
/// 256 unacknowledged entries, before it waits for more, and every `chunk` instructions while
/// it runs towards its next entry (so a primary's output that waits for this ring is not held
/// up for long by this vCPU's computing); never waiting for room on the ACK ring.
struct TicketReplayer: VCPUHost, @unchecked Sendable {
    let vcpu: Int
    let machine: Machine
    let log: LogReceiver
    let acks: AckSender
    let shared: ReplayShared
    /// The seq the next entry must have.
    private(set) var expected: UInt64 = 1
    private var scanned: UInt64 = 0
    private var acknowledged: UInt64 = 0
    private var urgent = false
    private(set) var outputsChecked: UInt64 = 0
    /// The seq of the entry the backup-side sabotage dropped, once it has.
    private(set) var dropped: UInt64?
    /// Traced: every ACK sent, with its emulated delivery time.
    private(set) var ackDeliveries: [(received: UInt64, deliveredAt: UInt64)] = []

    /// Instructions run between looks at the ring while the next entry is further away.
    static let chunk: UInt64 = 1 << 16

    init(vcpu: Int, machine: Machine, channel: LogChannel, shared: ReplayShared) {
        self.vcpu = vcpu
        self.machine = machine
        let end = channel.openBackupEnd()
        log = end.log
        acks = end.acks
        self.shared = shared
    }

    var entriesReplayed: UInt64 { expected - 1 }

    mutating func limit(count: UInt64) throws -> UInt64 {
        let entry = try next(count)
        guard entry.header.instructionCount >= count else {
            throw diverge(entry, count, "the log places an event where this vCPU has already passed",
                          replayed: "vCPU \(vcpu) reached instruction \(count) without it")
        }
        return min(entry.header.instructionCount, count &+ Self.chunk)
    }

    mutating func reachedLimit(count: UInt64) throws -> Bool {
        let entry = try next(count)
        guard entry.header.instructionCount == count else {
            try acknowledgeArrivals()
            return false
        }
        // An injection here is taken by `injectEvents`, before the vCPU runs on.
        if Self.isInjection(entry.header.kind) { return false }
        guard entry.header.kind == .ticket, let ticket = entry.value else {
            throw diverge(entry, count, "the guest reached the logged position without the logged event",
                          replayed: "vCPU \(vcpu) at instruction \(count) did not \(entry.header.kind == .endOfLog ? "halt" : "exit") there")
        }
        guard machine.synchronisesNext(vcpu: vcpu) else {
            throw diverge(entry, count, "a ticket is logged where the guest's next instruction does not synchronise",
                          replayed: "vCPU \(vcpu)'s next instruction at \(count) is no atomic, fence or ordered access")
        }
        try waitForTurn(ticket)
        _ = machine.performSynchronising(vcpu: vcpu)  // a fault stops the vCPU; its end entry says whether the primary's did
        shared.sequencer.advance(past: ticket)
        consume()
        return false
    }

    mutating func value(for exit: Exit, count: UInt64) throws -> UInt64 {
        let kind: LogEntryKind
        if case .clockRead = exit { kind = .clockRead } else { kind = .randomRead }
        let entry = try next(count)
        guard entry.header.kind == kind, entry.header.instructionCount == count, let value = entry.value else {
            throw diverge(entry, count, "the value reads differ", replayed: "has a \(kind) of vCPU \(vcpu) at instruction \(count)")
        }
        consume()
        return value
    }

    mutating func output(_ bytes: UnsafeRawBufferPointer, count: UInt64) throws {
        let entry = try next(count)
        guard entry.header.kind == .outputMarker, entry.header.instructionCount == count, entry.payload.count == 16 else {
            throw diverge(entry, count, "the outputs differ in place", replayed: "has an output of vCPU \(vcpu) at instruction \(count)")
        }
        let logged = UInt64(littleEndian: entry.payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let replayed = outputHash(bytes)
        guard logged == replayed else {
            throw diverge(entry, count, "the backup's output differs from the primary's",
                          logged: "output hash \(hex(logged))", replayed: "\(hex(replayed)) (\(bytes.count) bytes)")
        }
        outputsChecked += 1
        consume()
    }

    /// The entries that put an event into the guest before an instruction.
    @inline(__always)
    static func isInjection(_ kind: LogEntryKind) -> Bool {
        switch kind {
        case .interrupt, .ticketedRequest, .clientRequest: true
        default: false
        }
    }

    /// Takes every injection logged at `count`, in log order, as the primary made them there.
    mutating func injectEvents(count: UInt64) throws {
        while true {
            let entry = try next(count)
            guard entry.header.instructionCount == count, Self.isInjection(entry.header.kind) else { return }
            switch entry.header.kind {
            case .interrupt:
                guard let line = entry.payload.first.flatMap(Interrupt.init(rawValue:)) else {
                    throw diverge(entry, count, "interrupt entry without a valid line")
                }
                machine.raise(line, vcpu: vcpu)
            case .ticketedRequest:
                guard entry.payload.count >= 8 else { throw diverge(entry, count, "ticketed request without its ticket") }
                let ticket = UInt64(littleEndian: entry.payload.loadUnaligned(as: UInt64.self))
                try waitForTurn(ticket)
                defer { shared.sequencer.advance(past: ticket) }
                try deliver(entry, UnsafeRawBufferPointer(rebasing: entry.payload[8...]), count)
            default:
                try deliver(entry, entry.payload, count)
            }
            consume()
        }
    }

    /// Delivers a logged request by DMA, as the primary did: into a buffer this vCPU posted, or
    /// (an empty request) nowhere, because the primary found the buffer replaced.
    private func deliver(_ entry: LogEntryView, _ request: UnsafeRawBufferPointer, _ count: UInt64) throws {
        let posted = machine.devices.dmaBuffer?.vcpu == vcpu
        if request.isEmpty, !posted { return }
        guard posted, machine.deliverDMA(request) == .delivered(vcpu: vcpu) else {
            throw diverge(entry, count, "the request cannot be delivered as the primary delivered it",
                          replayed: "vCPU \(vcpu) at instruction \(count) has \(posted ? "a receive buffer too small for \(request.count) bytes" : request.isEmpty ? "a receive buffer posted" : "no receive buffer posted")")
        }
    }

    /// Waits in `wfi`: the log must wake the vCPU here, or end its run here.
    mutating func idle(count: UInt64) throws -> IdleOutcome {
        try injectEvents(count: count)
        if !machine.isWaiting(vcpu: vcpu) { return .woken }
        let entry = try next(count)
        if entry.header.kind == .endOfLog, entry.header.instructionCount == count { return .ended }
        throw diverge(entry, count, "the vCPU waits for an interrupt the log does not bring",
                      replayed: "vCPU \(vcpu) waits at instruction \(count)")
    }

    mutating func synchronise(count: UInt64) throws -> GuestFault? {
        let entry = try next(count)
        throw diverge(entry, count, "a synchronising instruction the log has no ticket for",
                      replayed: "vCPU \(vcpu) synchronises at instruction \(count)")
    }

    mutating func ended(count: UInt64, fault: GuestFault?) throws {
        let entry = try next(count)
        guard entry.header.kind == .endOfLog, entry.header.instructionCount == count, entry.value == outputsChecked else {
            throw diverge(entry, count, "the vCPU's run ends differently",
                          replayed: "vCPU \(vcpu) \(fault.map { "faulted (\($0))" } ?? "halted") at instruction \(count) after \(outputsChecked) output(s)")
        }
        consume()
        try acknowledge()
    }

    func stopped(by error: any Error) {
        if !(error is Sequencer.Abandoned) { shared.abandon() }
    }

    /// Waits until the order reaches `ticket`, taking in and acknowledging entries meanwhile.
    private mutating func waitForTurn(_ ticket: UInt64) throws {
        let (sequencer, deadline, vcpu) = (shared.sequencer, shared.deadline, vcpu)
        do {
            try sequencer.wait(for: ticket, vcpu: vcpu, deadline: deadline) { try acknowledgeArrivals() }
        } catch let gaveUp as Sequencer.GaveUp {
            throw ReplayGaveUp(description: "vCPU \(vcpu) \(gaveUp)")
        }
    }

    /// The next entry to replay, waiting (and acknowledging) until one has arrived. Checks that
    /// the ring's seqs run on without a gap.
    private mutating func next(_ count: UInt64) throws -> LogEntryView {
        while true {
            if let entry = try log.peekScanned() {
                if shared.sabotage.dropFirstTicket, dropped == nil, vcpu == shared.channels.count - 1, entry.header.kind == .ticket {
                    dropped = entry.header.seq
                    log.consume()
                    log.release()
                    continue
                }
                guard entry.header.seq == expected else {
                    throw Divergence(seq: expected, vcpu: vcpu, instructionCount: count,
                                     reason: "entry \(expected) of vCPU \(vcpu)'s log is missing",
                                     logged: "the log goes on at entry \(entry.header.seq)", replayed: nil)
                }
                return entry
            }
            if try scan() { continue }
            if scanned > acknowledged { try acknowledge() }
            if shared.isAbandoned { throw Sequencer.Abandoned() }
            if log.isClosed {
                if try scan() { continue }
                throw Divergence(seq: expected, vcpu: vcpu, instructionCount: count,
                                 reason: "vCPU \(vcpu)'s log ends before its end-of-log entry")
            }
            if shared.deadline.hasPassed {
                throw ReplayGaveUp(description: "vCPU \(vcpu) waited past its deadline for log entry \(expected)")
            }
            log.waitForMore(until: min(shared.deadline.value, monotonicNanos() &+ 10_000_000))
        }
    }

    /// Takes in what has arrived; true if anything did. Acknowledges at once what must be.
    @discardableResult
    private mutating func scan() throws -> Bool {
        var flagged = false
        let before = scanned
        _ = try log.scan { entry in
            scanned = entry.header.seq
            if !entry.header.flags.isDisjoint(with: [.precedesOutput, .acknowledgeNow]) { flagged = true }
        }
        urgent = urgent || flagged
        if urgent || scanned - acknowledged >= 256 { try acknowledge() }
        return scanned > before
    }

    /// Takes in what has arrived and acknowledges everything taken in.
    private mutating func acknowledgeArrivals() throws {
        try scan()
        if scanned > acknowledged { try acknowledge() }
    }

    /// Sends an ACK of everything scanned, unless the ACK ring is full: a primary whose vCPUs
    /// have ended takes no more ACKs off it, and a replay must never wait for that (it did,
    /// stalling behind a full ring). A skipped ACK is covered by the next.
    private mutating func acknowledge() throws(ChannelError) {
        guard acks.hasRoom else { return }
        let ack = Acknowledgement(received: scanned, executed: expected - 1)
        if shared.traceAcks {
            ackDeliveries.append((scanned, try acks.acknowledgeReportingDelivery(ack)))
        } else {
            try acks.acknowledge(ack)
        }
        acknowledged = scanned
        urgent = false
    }

    private mutating func consume() {
        log.consume()
        log.release()
        expected += 1
    }

    private func diverge(_ entry: LogEntryView, _ count: UInt64, _ reason: String, logged: String? = nil, replayed: String? = nil) -> Divergence {
        Divergence(seq: entry.header.seq, vcpu: vcpu, instructionCount: count, kind: entry.header.kind, reason: reason,
                   logged: logged ?? "\(entry.header.kind) at instruction \(entry.header.instructionCount)", replayed: replayed)
    }
}
