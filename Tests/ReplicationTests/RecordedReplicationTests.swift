@testable import GuestVM
@testable import Replication
import Harness
import LogChannel
import Testing
import Topology

/// The recorded interleaving: vCPUs in parallel, every synchronising instruction ticketed in
/// one global order and logged per vCPU, the backup replaying that order on a thread per vCPU.
/// Every replay test compares the primary's and the backup's state hashes.
@Suite("Recorded interleaving", .serialized)
struct RecordedReplicationTests {
    static func options(seed: UInt64 = 1, profile: ChannelProfile = .loopback, faultTolerance: Bool = true) -> ReplicationOptions {
        var o = ReplicationOptions()
        o.seed = seed
        o.profile = profile
        o.faultTolerance = faultTolerance
        o.durationNanos = 60_000_000_000  // fixed-work guests: they end long before
        o.warmupNanos = 0
        o.primaryCPUs = nil
        o.backupCPUs = nil
        return o
    }

    static func expectReplayed(_ report: ReplicationReport, _ what: String) {
        #expect(report.failure == nil && report.stalled == nil, "\(what): \(report.failure ?? report.stalled ?? "")")
        #expect(report.divergence == nil, "\(what): \(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash, "\(what): the state hashes differ")
        #expect(report.orderingEntries > 0 && report.outputs == report.backupOutputsChecked, "\(what)")
    }

    /// Two vCPUs each add 1 to one counter ROUNDS times with a load-acquire and a cas, retrying
    /// when the cas finds another value: how many retries each makes depends on the order the
    /// cas operations took effect in. vCPU 0 waits for vCPU 1 and prints the total.
    static let casHammer = try! Assembler.assemble("""
        .vcpus 2
        .const ROUNDS = 1500
        .data
        .align 64
        counter: .u64 0
        .align 64
        done:    .u64 0
        .text
        start:
            li r1, counter
            li r10, ROUNDS
        .again:
            ldacq r3, [r1]
            addi r4, r3, 1
            mov r5, r3
            cas r5, [r1], r4
            bne r5, r3, .again
            addi r10, r10, -1
            bnei r10, 0, .again
            li r2, done
            li r9, 1
            xadd r6, [r2], r9
            bnei r0, 0, .end
        .wait:
            ldacq r6, [r2]
            bnei r6, 2, .wait
            ld64 r1, [r1]
            call print_u64
        .end:
            halt
        """ + BuiltinPrograms.library, file: "cas-hammer")

    /// Every data-race-free built-in replays to the primary's state, on two vCPUs and (where
    /// the program uses them) three, per seed (3 seeds, 20 with FTBENCH_LONG_TESTS=1): the
    /// order the tickets were taken in differs from run to run, and the backup must follow it.
    @Test("data-race-free guests replay to the primary's state", arguments: [
        ("shared-counter", 2), ("shared-counter", 3), ("lock-heavy", 2), ("lock-heavy", 3), ("partitioned", 2), ("producer-consumer", 2),
    ], ReplicatedRunTests.seeds)
    func replayEquality(workload: (String, Int), seed: UInt64) throws {
        let report = try RecordedReplication.run(program: try testProgram(workload.0), vcpus: workload.1, options: Self.options(seed: seed))
        Self.expectReplayed(report, "\(workload.0) on \(workload.1) vCPUs, seed \(seed)")
    }

    /// Two vCPUs hammering one cas replay to the same state in every seed (the positive control
    /// of the next test).
    @Test("two vCPUs hammering one cas replay exactly")
    func casHammerReplays() throws {
        for seed in 1...3 as ClosedRange<UInt64> {
            let report = try RecordedReplication.run(program: Self.casHammer, vcpus: 2, options: Self.options(seed: seed))
            Self.expectReplayed(report, "seed \(seed)")
        }
    }

    /// Negative control. Sabotage: `performOutsideTicket` ends each ticket's step before its
    /// operation, so a cas can take effect after a later ticket's. The backup, performing them
    /// in ticket order, then sees other values, retries a different number of times, and the
    /// replay diverges; within 20 seeds it must.
    @Test("negative control: an atomic performed outside its ticketed step diverges within 20 seeds")
    func untickedAtomicDiverges() throws {
        var o = Self.options()
        o.sabotage.performOutsideTicket = true
        var diverged: Divergence?
        for seed in 1...20 as ClosedRange<UInt64> where diverged == nil {
            o.seed = seed
            let report = try RecordedReplication.run(program: Self.casHammer, vcpus: 2, options: o)
            #expect(report.stalled == nil)
            diverged = report.divergence
        }
        #expect(diverged != nil, "20 seeds replayed although the cas operations took effect outside their tickets")
    }

    /// Negative control. Sabotage: `dropFirstTicket` makes the backup skip the first ticket
    /// entry of the last vCPU's log; the replay must report that entry's seq.
    @Test("negative control: a skipped ticket is reported at its seq")
    func skippedTicket() throws {
        var o = Self.options()
        o.sabotage.dropFirstTicket = true
        let report = try RecordedReplication.run(program: try testProgram("lock-heavy"), vcpus: 2, options: o)
        let dropped = try #require(report.sabotagedSeq)
        let divergence = try #require(report.divergence)
        #expect(divergence.seq == dropped && divergence.vcpu == 1, "\(divergence)")
    }

    /// Each vCPU adds to a shared counter (xadd) and prints what it got, ROUNDS times: every
    /// output depends on the other vCPU's tickets before it.
    static let printingCounter = try! Assembler.assemble("""
        .vcpus 2
        .const ROUNDS = 300
        .data
        .align 64
        counter: .u64 0
        .align 64
        slots:   .zero 64
        .text
        start:
            li r1, counter
            li r2, slots
            shli r3, r0, 3
            add r2, r2, r3
            li r9, 1
            li r10, ROUNDS
            li r11, 8
        .round:
            xadd r4, [r1], r9
            st64 [r2], r4
            out r2, r11
            addi r10, r10, -1
            bnei r10, 0, .round
            halt
        """, file: "printing-counter")

    /// The output rule across vCPUs, audited from the backup's ACKs and their delivery times:
    /// no output leaves before every ring was acknowledged up to what it held when the output
    /// was issued.
    @Test("no output leaves before every vCPU's ring acknowledged what preceded it")
    func outputRuleAcrossVCPUs() throws {
        var o = Self.options(profile: .lan)
        o.traceOutputs = true
        let report = try RecordedReplication.run(program: Self.printingCounter, vcpus: 2, options: o)
        Self.expectReplayed(report, "printing counter")
        let audit = try #require(report.crossVCPUAudit)
        #expect(audit.outputsChecked > 300)
        #expect(audit.violations.isEmpty, "\(audit.violations.prefix(3))")
    }

    /// Negative control. Sabotage: `outputRuleOwnVCPUOnly` lets an output wait for its own
    /// vCPU's ring only; the other vCPU's entries before it (its tickets) may then still be
    /// unacknowledged, and the audit must catch an output that left before them (within 5
    /// seeds).
    @Test("negative control: waiting for the own ring only releases outputs early, and the audit sees it")
    func ownRingOnlyIsCaught() throws {
        var o = Self.options(profile: .lan)
        o.traceOutputs = true
        o.sabotage.outputRuleOwnVCPUOnly = true
        var caught = 0
        for seed in 1...5 as ClosedRange<UInt64> where caught == 0 {
            o.seed = seed
            let report = try RecordedReplication.run(program: Self.printingCounter, vcpus: 2, options: o)
            caught = try #require(report.crossVCPUAudit).violations.count
        }
        #expect(caught > 0)
    }

    /// FT off: tickets are taken and entries encoded, then discarded; the run counts them.
    @Test("with FT off, recording still takes tickets and encodes entries, and counts them")
    func recordingAlone() throws {
        let report = try RecordedReplication.run(program: try testProgram("lock-heavy"), vcpus: 2, options: Self.options(faultTolerance: false))
        #expect(report.failure == nil)
        #expect(report.orderingEntries >= 2 * 500 * 2 && report.logEntries > report.orderingEntries && report.logBytes > 0)
        #expect(report.workNanos != nil && report.backupStateHash == nil)
    }

    /// Runs kvstore-split (vCPU 0 takes requests by DMA, vCPU 1 serves them on timer ticks)
    /// with `requests` requests at `rate` per second; FT on oversubscribes this 2-CPU machine
    /// (two threads per side), so the rate is low.
    static func runSplit(_ o: ReplicationOptions, requests: Int = 150, rate: Double = 1_000) throws -> (ReplicationReport, KVClient) {
        let program = try Assembler.assemble(BuiltinPrograms.named("kvstore-split")!.source, file: "kvstore-split",
                                             defines: ["REQUESTS": Int64(requests)])
        return try RecordedReplication.run(program: program, vcpus: 2, options: o, client: KVClient(rate: rate, arrivals: .poisson, seed: o.seed))
    }

    /// A guest with devices replays to the primary's state: requests delivered by DMA, each
    /// inside a ticket, on vCPU 0; timer ticks and `wfi` on vCPU 1; replies on vCPU 1 that
    /// depend on vCPU 0's DMA. Every request is answered once, and the outputs and the state
    /// hashes of the two sides agree (3 seeds, 20 with FTBENCH_LONG_TESTS=1).
    @Test("a guest with DMA, a timer and wfi replays to the primary's state", arguments: ReplicatedRunTests.seeds)
    func devicesReplay(seed: UInt64) throws {
        var o = Self.options(seed: seed, profile: .lan)
        o.durationNanos = 20_000_000_000
        let (report, client) = try Self.runSplit(o)
        Self.expectReplayed(report, "kvstore-split, seed \(seed)")
        #expect(report.requestsSent >= 150 && report.timerTicks > 0, "\(report.requestsSent) requests, \(report.timerTicks) ticks")
        #expect(report.outputs == 150 && client.duplicateReplies == 0 && client.unansweredMeasured == 0, "\(report.outputs) replies")
    }

    /// The kvstore-split worker polls each receive buffer's length word with ldacq: whether a
    /// poll sees the request depends on where the DMA write stands in the order. Within 20
    /// seeds the replay must diverge when the DMA takes no ticket.
    ///
    /// Negative control. Sabotage: `dmaOutsideTicket` delivers requests outside the order (the
    /// backup delivers each when its vCPU reaches it, ordered against no poll).
    @Test("negative control: a DMA write outside the ticket order diverges within 20 seeds")
    func untickedDMADiverges() throws {
        var o = Self.options(profile: .lan)
        o.durationNanos = 20_000_000_000
        o.sabotage.dmaOutsideTicket = true
        var diverged: Divergence?
        for seed in 1...20 as ClosedRange<UInt64> where diverged == nil {
            o.seed = seed
            let (report, _) = try Self.runSplit(o, requests: 60)
            #expect(report.stalled == nil && report.failure == nil, "seed \(seed): \(report.stalled ?? report.failure ?? "")")
            diverged = report.divergence
        }
        #expect(diverged != nil, "20 seeds replayed although the DMA writes took no ticket")
    }

    /// The output rule across vCPUs with devices: a reply on vCPU 1 depends on a request that
    /// vCPU 0's ring carries, and must not leave before that ring acknowledged it.
    @Test("a reply waits for the ring that carried its request, and the audit finds no early release")
    func outputRuleWithDMA() throws {
        var o = Self.options(profile: .lan)
        o.durationNanos = 20_000_000_000
        o.traceOutputs = true
        let (report, _) = try Self.runSplit(o, requests: 100)
        Self.expectReplayed(report, "kvstore-split")
        let audit = try #require(report.crossVCPUAudit)
        #expect(audit.outputsChecked >= 100 && audit.violations.isEmpty, "\(audit.outputsChecked) checked, \(audit.violations.prefix(3))")
    }

    /// Negative control. Sabotage: `outputRuleOwnVCPUOnly`: a reply waits for the worker's own
    /// ring only, not for vCPU 0's ring with the request's DMA, and the audit must see a reply
    /// that left before that ring was acknowledged (within 5 seeds).
    @Test("negative control: a reply that waits for its own ring only leaves before its request is acknowledged")
    func ownRingOnlyWithDMA() throws {
        var o = Self.options(profile: .lan)
        o.durationNanos = 20_000_000_000
        o.traceOutputs = true
        o.sabotage.outputRuleOwnVCPUOnly = true
        var caught = 0
        for seed in 1...5 as ClosedRange<UInt64> where caught == 0 {
            o.seed = seed
            caught = try #require(try Self.runSplit(o, requests: 100).0.crossVCPUAudit).violations.count
        }
        #expect(caught > 0)
    }

    /// FT off with devices: requests, ticks and the DMA tickets are counted, every reply
    /// reaches the clients.
    @Test("with FT off, a guest with devices is served and its DMA takes tickets")
    func devicesRecordedAlone() throws {
        let (report, client) = try Self.runSplit(Self.options(faultTolerance: false), requests: 500, rate: 20_000)
        #expect(report.failure == nil, "\(report.failure ?? "")")
        #expect(report.requestsSent >= 500 && report.orderingEntries >= 3 * 500, "\(report.requestsSent) requests, \(report.orderingEntries) tickets")
        #expect(report.outputs == 500 && client.duplicateReplies == 0 && client.unansweredMeasured == 0, "\(report.outputs) replies")
    }

    /// A vCPU waiting in wfi with no device that could wake it ends its run there (as a halt
    /// would), on both sides, and the replay agrees.
    @Test("a vCPU waiting with nothing to wake it ends, and the replay ends it at the same count")
    func waitWithNothingToCome() throws {
        let program = try Assembler.assemble("""
            .vcpus 2
            .text
            start:
                bnei r0, 0, .sleep
                li r1, 7
                call print_u64
                halt
            .sleep:
                wfi
                halt
            """ + BuiltinPrograms.library, file: "sleeper")
        let report = try RecordedReplication.run(program: program, vcpus: 2, options: Self.options())
        #expect(report.failure == nil && report.divergence == nil, "\(report.failure ?? "") \(report.divergence.map(String.init(describing:)) ?? "")")
        #expect(report.backupStateHash == report.primaryStateHash)
    }
}
