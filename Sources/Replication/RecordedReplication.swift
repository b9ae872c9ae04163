import GuestVM
import LogChannel
import Topology

/// The `recorded` interleaving: every vCPU on a host thread of its own, in parallel, with the
/// order of their synchronising instructions recorded so that a backup can replay it (the
/// Kendo/Castor approach). Every atomic, fence and ordered access takes a ticket from one global
/// `Sequencer` and is performed inside the ticket's step, so the ticket order is the order the
/// operations took effect on memory; each vCPU logs its tickets, its clock and random values and
/// its output markers to a ring of its own (one SPSC `LogChannel` per vCPU), at its own
/// instruction counts. The backup runs one replaying thread per vCPU, each performing its
/// vCPU's synchronising instructions when the order reaches their tickets (`TicketReplayer`).
///
/// Correct for data-race-free guests (docs/ISA.md, "Memory model"): their plain accesses to
/// shared memory are ordered by synchronising instructions, so the same order of those gives the
/// same values everywhere. A racy guest's plain accesses are not recorded, and its replay may
/// diverge; the final state check reports it.
///
/// Devices: `settimer` and `dmapost` write the machine's device registers, shared by every
/// vCPU, so they are ticketed too; every DMA write of a client request into guest memory takes a
/// ticket and is logged with it (`ticketedRequest`); timer ticks are logged as interrupts on the
/// vCPU they are raised on; a vCPU in `wfi` idles on its own thread (`TicketRecorder`). The
/// clients (`ClientNetwork`) are driven by the vCPU threads: the one whose vCPU posted the
/// receive buffer takes requests, and each reply leaves when the output rule lets it.
///
/// With fault tolerance off, tickets are taken and entries encoded and appended to a log that
/// `flush` discards (`DiscardingLog`): the cost of recording alone.
public enum RecordedReplication {
    /// Spins before a replaying vCPU that waits for its ticket parks: as long as the rings wait
    /// (`options.wait`; by default 20,000, about a millisecond), since a handoff through a futex
    /// costs microseconds and the backup hands the order between its threads at every ticket of
    /// another vCPU. A strategy that never parks spins 2^24 times (about a second) between
    /// parks, so that a stalled order is still noticed.
    static func spins(_ wait: WaitStrategy) -> Int {
        switch wait {
        case .spin: 1 << 24
        case .spinThenYield(let n), .spinThenPark(let n): n
        }
    }

    /// Whether `program` uses a device instruction (`settimer`, `dmapost`, `wfi`).
    static func usesDevices(_ program: Program) -> Bool {
        program.instructions.contains { $0.op.usesDevice }
    }

    /// Runs a guest without clients: its DMA device never delivers (a guest that waits for a
    /// request waits until the duration runs out).
    public static func run(program: Program, vcpus: Int, memory: Int? = nil, options: ReplicationOptions) throws -> ReplicationReport {
        try record(program: program, vcpus: vcpus, memory: memory, options: options, clients: nil)
    }

    /// Runs a guest whose DMA device delivers `client`'s requests, which its vCPU threads take
    /// from a `ClientNetwork` (its latency measured over the whole run: a recorded run has no
    /// warm-up); returns the report and the client as the run left it.
    public static func run<Client: ClientLoad>(program: Program, vcpus: Int, memory: Int? = nil, options: ReplicationOptions,
                                               client: Client) throws -> (ReplicationReport, Client) {
        let network = ClientNetwork(client: client, durationNanos: options.durationNanos, retryNanos: options.clientRetry,
                                    dedup: !options.sabotage.noClientDedup, resend: !options.sabotage.noClientResend)
        let start = monotonicNanos()
        network.timeline.start = start
        network.startMeasuring(now: start)
        let report = try record(program: program, vcpus: vcpus, memory: memory, options: options, clients: network)
        let end = monotonicNanos()
        network.stopMeasuring(now: end)
        network.chargeUnanswered(now: end)
        return (report, network.finalClient)
    }

    private static func record(program: Program, vcpus: Int, memory: Int?, options: ReplicationOptions,
                               clients: (any RecordedClients)?) throws -> ReplicationReport {
        let primary = try Machine(program: program, vcpus: vcpus, memorySize: memory, memoryNode: options.memoryNode(of: .a))
        primary.synchronisingExits = true
        let start = monotonicNanos()
        let primaryDeadline = FreeRun.Deadline(start &+ options.durationNanos)
        guard options.faultTolerance else {
            let shared = RecordingShared(sequencer: Sequencer(vcpus: vcpus), channels: [], machine: primary, deadline: primaryDeadline,
                                         options: options, clients: clients)
            let hosts = (0..<vcpus).map { TicketRecorder(vcpu: $0, machine: primary, sink: DiscardingLog(), shared: shared, seed: options.seed) }
            let (run, recorders) = ParallelRun.run(primary, hosts: hosts, cpus: options.primaryCPUs, namePrefix: "primary")
            return primaryReport(run, recorders, start: start, end: monotonicNanos(), options: options)
        }

        let channels = (0..<vcpus).map { vcpu in
            LogChannel(profile: options.profile, capacity: options.logCapacity, logNode: options.ringNode(readBy: .b),
                       ackNode: options.ringNode(readBy: .a), wait: options.wait, seed: options.seed &+ UInt64(vcpu))
        }
        defer { channels.forEach { $0.close() } }
        let backup = try Machine(program: program, vcpus: vcpus, memorySize: memory, memoryNode: options.memoryNode(of: .b))
        backup.synchronisingExits = true
        let backupDeadline = FreeRun.Deadline(start &+ options.durationNanos &+ FreeReplication.stallGrace(options, primaryNanos: options.durationNanos))
        // A parked waiter wakes every millisecond to acknowledge what its ring received.
        let replay = ReplayShared(sequencer: Sequencer(vcpus: vcpus, spins: spins(options.wait), parkTimeoutNanos: 1_000_000), channels: channels,
                                  deadline: backupDeadline, options: options)
        let backupSide = SideThread(name: "backup", running: backup) { backup -> (ParallelRun.Summary, [TicketReplayer]) in
            let hosts = (0..<vcpus).map { TicketReplayer(vcpu: $0, machine: backup, channel: channels[$0], shared: replay) }
            return ParallelRun.run(backup, hosts: hosts, cpus: options.backupCPUs, namePrefix: "backup")
        }

        let recording = RecordingShared(sequencer: Sequencer(vcpus: vcpus), channels: channels, machine: primary, deadline: primaryDeadline,
                                        options: options, clients: clients)
        let hosts = (0..<vcpus).map { TicketRecorder(vcpu: $0, machine: primary, sink: recording.primaryEnds[$0].log, shared: recording, seed: options.seed) }
        let (primaryRun, recorders) = ParallelRun.run(primary, hosts: hosts, cpus: options.primaryCPUs, namePrefix: "primary")
        let end = monotonicNanos()
        // A primary cut off by the duration logged no end: its backup stops now, not after a grace.
        backupDeadline.set(primaryRun.finished ? end &+ FreeReplication.stallGrace(options, primaryNanos: end - start) : end)
        let (backupRun, replayers) = backupSide.join()

        var report = primaryReport(primaryRun, recorders, start: start, end: end, options: options)
        report.acksSent = replayers.reduce(0) { $0 + $1.acks.acksSent }
        report.acksInWindow = recording.collectors?.reduce(0) { $0 + $1.acksTaken } ?? 0
        report.backupCPUs = backupRun.cpusUsed
        report.backupStateHash = backupRun.stateHash
        report.backupEntriesReplayed = replayers.reduce(0) { $0 + $1.entriesReplayed }
        report.backupOutputsChecked = replayers.reduce(0) { $0 + Int($1.outputsChecked) }
        report.sabotagedSeq = replayers.lazy.compactMap(\.dropped).first
        if options.traceOutputs { report.crossVCPUAudit = audit(recorders, replayers) }
        if let unpinned = backupRun.pinningFailure { report.failure = report.failure ?? "backup: \(unpinned)" }

        // The backup's own account first: a divergence is why the primary's channel closed.
        let errors = backupRun.vcpus.compactMap(\.error).filter { !($0 is Sequencer.Abandoned) }
        if let divergence = errors.lazy.compactMap({ $0 as? Divergence }).first {
            report.divergence = divergence
            report.failure = nil
        } else if !primaryRun.finished {
            if let error = errors.first { report.failure = (report.failure.map { $0 + "; " } ?? "") + "backup: \(error)" }
        } else if let gaveUp = errors.lazy.compactMap({ $0 as? ReplayGaveUp }).first {
            report.stalled = "the backup's replay had not finished \(ChannelProfile.compact(nanos: FreeReplication.stallGrace(options, primaryNanos: end - start))) after the primary's run: \(gaveUp)"
        } else if let error = errors.first {
            report.failure = report.failure ?? "backup: \(error)"
        } else if primaryRun.finished, backupRun.stateHash != primaryRun.stateHash {
            report.divergence = Divergence(seq: 0, vcpu: 0, instructionCount: backupRun.totalInstructions,
                                           reason: "the final state differs although every logged event replayed (a racy guest: its plain accesses are not recorded)",
                                           logged: "state hash \(hex(primaryRun.stateHash))", replayed: hex(backupRun.stateHash))
        }
        return report
    }

    /// What the primary measured, both with and without a backup.
    private static func primaryReport<Sink: LogSink>(_ run: ParallelRun.Summary, _ recorders: [TicketRecorder<Sink>], start: UInt64, end: UInt64,
                                                     options: ReplicationOptions) -> ReplicationReport {
        var report = ReplicationReport.parallelPrimary(run, start: start, end: end, faultTolerance: options.faultTolerance)
        if !run.finished, report.failure == nil {
            report.failure = "the primary's guest had not halted when the run's duration ran out: recorded interleaving compares whole runs of fixed-work guests only"
        }
        report.logEntries = recorders.reduce(0) { $0 + $1.sink.entriesSent }
        report.orderingEntries = recorders.reduce(0) { $0 + $1.tickets }
        report.timerTicks = Int(recorders.reduce(0) { $0 + $1.interrupts })
        report.requestsSent = Int(recorders.reduce(0) { $0 + $1.requestsDelivered })
        report.logBytes = recorders.reduce(0) { $0 + $1.sink.bytesSent }
        let held = recorders.reduce(0) { $0 + $1.holdNanos }
        report.primaryStallFraction = Double(held) / Double(report.windowNanos) / Double(max(1, recorders.count))
        return report
    }

    /// The output rule checked from outside the mechanism, for every ring: each output must
    /// leave after the delivery of an ACK, sent by that ring's replaying vCPU, covering what the
    /// ring held when the output was issued.
    static func audit<Sink: LogSink>(_ recorders: [TicketRecorder<Sink>], _ replayers: [TicketReplayer]) -> OutputRuleAudit {
        var combined = OutputRuleAudit(releases: [], acks: [])
        for (ring, replayer) in replayers.enumerated() {
            let releases = recorders.flatMap(\.releases).filter { $0.needed[ring] > 0 }.map { (tag: $0.needed[ring], releasedAt: $0.releasedAt) }
            let ringAudit = OutputRuleAudit(releases: releases, acks: replayer.ackDeliveries)
            combined.violations += ringAudit.violations
            combined.outputsChecked += ringAudit.outputsChecked
        }
        return combined
    }
}
