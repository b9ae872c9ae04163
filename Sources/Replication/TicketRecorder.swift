import GuestVM
import LogChannel
import Topology

/// What the recording vCPUs of a `recorded` primary share: the ticket order, each vCPU's
/// published log position, and (FT on) every ring's acknowledgements.
final class RecordingShared: @unchecked Sendable {
    let sequencer: Sequencer
    let flushed: PublishedSeqs
    /// Nil with fault tolerance off: nothing to wait for.
    let collectors: [AckCollector]?
    let channels: [LogChannel]
    let deadline: FreeRun.Deadline
    let sabotage: Sabotage
    let traceOutputs: Bool

    init(sequencer: Sequencer, channels: [LogChannel], vcpus: Int, deadline: FreeRun.Deadline, options: ReplicationOptions) {
        self.sequencer = sequencer
        flushed = PublishedSeqs(vcpus: vcpus)
        self.channels = channels
        collectors = channels.isEmpty ? nil : channels.map { AckCollector($0.primary.acks) }
        self.deadline = deadline
        sabotage = options.sabotage
        traceOutputs = options.traceOutputs
    }
}

/// One vCPU of a `recorded` primary (a `VCPUHost` on its own thread): it takes a ticket for
/// every synchronising instruction and performs the instruction inside the ticket's step, logs
/// tickets, clock and random values and output markers to its own ring at its own instruction
/// counts, and holds each output until every ring has acknowledged what was appended to it
/// before the output (docs/REPLICATION.md, "Several vCPUs").
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

    init(vcpu: Int, machine: Machine, sink: Sink, shared: RecordingShared, seed: UInt64) {
        self.vcpu = vcpu
        self.machine = machine
        self.sink = sink
        self.shared = shared
        random = SplitMix64(seed: seed ^ (UInt64(vcpu) &* 0x9E37_79B9_7F4A_7C15))
        needed = Array(repeating: 0, count: shared.flushed.count)
    }

    func limit(count: UInt64) -> UInt64 { count &+ FreeRun.chunk < count ? .max : count &+ FreeRun.chunk }

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
        let fault = machine.performSynchronising(vcpu: vcpu)
        try log(.ticket, count: count, value: ticket)
        return fault
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
        guard let collectors = shared.collectors else { return }
        for ring in needed.indices { needed[ring] = shared.flushed[ring] }
        try hold(collectors)
        // Traced apart from the hold, so that the audit sees every release, held or not.
        if shared.traceOutputs { releases.append((monotonicNanos(), needed)) }
    }

    mutating func ended(count: UInt64, fault: GuestFault?) throws {
        try log(.endOfLog, count: count, value: outputs, flags: .acknowledgeNow)
    }

    private mutating func log(_ kind: LogEntryKind, count: UInt64, value: UInt64, flags: LogEntryFlags = []) throws(ChannelError) {
        seq += 1
        try sink.append(LogEntryHeader(seq: seq, instructionCount: count, vcpu: UInt32(vcpu), kind: kind, flags: flags), value: value)
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
