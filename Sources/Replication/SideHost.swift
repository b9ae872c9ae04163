import GuestVM
import LogChannel
import LogTrace
import Synchronization
import Topology

/// One host of a replicated run, on its own pinned thread, running the roles its side is given
/// one life after another: the first primary (side A) or the first backup (side B); a backup may
/// take over and go on as the primary, which may restore redundancy by state transfer; a side
/// that crashed or lost a claim restarts as an empty spare host, waits for a primary alone to
/// invite it, receives that primary's state and backs it up. So repeated failures work: crash
/// the new primary and its newest backup takes over.
final class SideHost<Client: ClientLoad>: @unchecked Sendable {
    let side: Side
    let context: RunContext<Client>
    let results: RunResults
    let program: Program
    let vcpus: Int
    let memory: Int?
    let drainTimeout: UInt64
    /// For the first backup only: keep the replayed log in memory, stream it to a trace file.
    let recordLog: Bool
    let trace: TraceWriter?

    /// A role to play, with what it needs.
    enum Life {
        /// Side A's first life: the primary, logging on `channel` (nil: fault tolerance off).
        case primary(LogChannel?)
        /// A backup of the primary `owner` of `epoch` on `channel`: side B's first life, or one
        /// restored by state transfer into `machine` (which read the transfer from `source` and
        /// says where the log proper starts).
        case backup(LogChannel, epoch: UInt64, owner: Side, restored: (machine: Machine, StateRestore.Restored, source: LiveLogSource)?)
    }

    private let first: Life

    init(side: Side, context: RunContext<Client>, results: RunResults, program: Program, vcpus: Int, memory: Int?,
         drainTimeout: UInt64, recordLog: Bool, trace: TraceWriter?, first: Life) {
        self.side = side
        self.first = first
        self.context = context
        self.results = results
        self.program = program
        self.vcpus = vcpus
        self.memory = memory
        self.drainTimeout = drainTimeout
        self.recordLog = recordLog
        self.trace = trace
    }

    private var options: ReplicationOptions { context.options }

    /// Plays the first life, then every life that follows, until the run is over for this host.
    func run() {
        var life: Life? = first
        var isFirst = true
        while let current = life {
            let stopped: Bool
            switch current {
            case .primary(let channel):
                guard let machine = freshMachine(as: .primary, channel: channel) else { return }
                stopped = runPrimary(machine, channel: channel)
            case .backup(let channel, let epoch, let owner, let restored):
                guard let machine = restored?.machine ?? freshMachine(as: .backup, channel: channel) else { return }
                // The first backup's source records the log, if asked, and knows when a crash of
                // this side is due while it waits for entries.
                let source = restored?.source ?? LiveLogSource(
                    channel.openBackupEnd(), policy: options.ackPolicy, tracing: options.traceOutputs, recorder: trace,
                    heartbeat: options.heartbeat, failureTimeout: options.failureTimeout, linkFaults: context.linkFaults,
                    crashDeadline: CrashPoint(context.faults, role: .backup)?.deadline ?? .max)
                stopped = runBackup(machine, source: source, channel: channel, epoch: epoch, owner: owner, restored: restored?.1, isFirst: isFirst)
            }
            isFirst = false
            guard stopped, options.faultTolerance, options.restoreAfterNanos != nil else { return }
            life = spare()
        }
    }

    /// A machine for a first life, built here, on this host's thread: like the channel's ends
    /// (`LogChannel.openPrimaryEnd`), its objects then come from this thread's allocator arena,
    /// away from the other side's. Built by the run's thread next to the other side's machine,
    /// the primary of `nondet` spent 47% of its time in reference counting on shared cache lines
    /// (perf; docs/LOGCHANNEL.md, "Side-local ends"). Nil (with the run failed) if it cannot be
    /// built, which the run checked before it started.
    private func freshMachine(as role: Role, channel: LogChannel?) -> Machine? {
        do {
            return try Machine(program: program, vcpus: vcpus, memorySize: memory, memoryNode: options.memoryNode(of: side))
        } catch {
            switch role {
            case .primary: results.fail(primary: "primary: \(error)")
            case .backup: results.fail(backup: "backup: \(error)")
            }
            channel?.close()
            return nil
        }
    }

    /// Side A's first life. Returns true if the side stopped (crashed, or halted on a lost claim).
    private func runPrimary(_ machine: Machine, channel: LogChannel?) -> Bool {
        nameCurrentThread(roleThreadName("primary", vcpus: vcpus))
        var driver = PrimaryDriver(context: context, machine: machine, channel: channel, side: side)
        var summary: RunSummary?
        var failure: String?
        defer { results.note(primary: driver) }
        do {
            summary = try machine.drive(&driver, quantum: options.quantum)
        } catch is SideStopped {
            return true
        } catch {
            failure = "primary: \(error)"
        }
        return finishAsPrimary(driver, machine: machine, summary: summary, failure: failure, tookOver: false)
    }

    /// A backup's life: replays the log and, if its primary falls silent and it wins the claim,
    /// goes on as the primary. Returns true if the side stopped.
    private func runBackup(_ machine: Machine, source: LiveLogSource, channel: LogChannel, epoch: UInt64, owner: Side,
                           restored: StateRestore.Restored?, isFirst: Bool) -> Bool {
        nameCurrentThread(roleThreadName("backup", vcpus: vcpus))
        let sabotaged: SabotagedLogSource? = options.sabotage.touchesBackup ? SabotagedLogSource(source, sabotage: options.sabotage) : nil
        let inner: LogSource = sabotaged ?? source
        let tapped: TappedLogSource? = recordLog && isFirst ? TappedLogSource(inner) : nil
        let replayed: LogSource = tapped ?? inner
        let backup = BackupDriver(source: replayed, checks: LogChecks.all.subtracting(options.sabotage.skipChecks),
                                  firstSeq: restored?.nextSeq ?? 1, outputBase: restored?.outputsProduced ?? 0)
        let takeover = BackupTakeover(context: context, machine: machine, side: side, epoch: epoch, owner: owner, backup: backup,
                                      hashAtGoLive: recordLog && isFirst)
        if let restored { takeover.uncertain.primaryReleased(upTo: restored.outputsReleased) }
        var replica = ReplicaDriver(machine: machine, side: side, epoch: epoch, backup: backup, takeover: takeover, faults: context.faults)
        defer {
            results.note(backupOf: side, events: replica.events, interpreterTime: replica.interpreterTime, source: source,
                         backup: backup, takeover: takeover, sabotagedSeq: sabotaged?.applied, recorded: tapped?.entries)
            // The primary it became, if it took over.
            if let live = takeover.primary { results.note(primary: live) }
            if isFirst, let trace { results.finish(trace) }
        }
        do {
            let summary = try machine.drive(&replica, quantum: options.quantum)
            if let live = takeover.primary {
                return finishAsPrimary(live, machine: machine, summary: summary, failure: nil, tookOver: true)
            }
            try backup.checkLogEnded(finalStateHash: summary.stateHash, instructions: summary.totalInstructions)
            source.sendDeferred(timeout: drainTimeout)
            results.noteBackupEnded(hash: summary.stateHash)
        } catch is SideStopped {
            return true
        } catch let divergence as Divergence {
            results.fail(divergence: divergence)
            channel.close()
        } catch {
            if takeover.primary != nil {
                results.fail(primary: "primary: \(error)")
            } else {
                results.fail(backup: "backup: \(error)")
            }
            channel.close()
        }
        return false
    }

    /// The run is over for a live primary: gives up a transfer in progress, publishes the
    /// end-of-log entry and waits for its ACK (unless it failed), closes its link, and reports.
    /// Returns true if it stopped meanwhile (its drain found it had lost a claim).
    private func finishAsPrimary(_ driver: PrimaryDriver<Client>, machine: Machine, summary: RunSummary?, failure: String?,
                                 tookOver: Bool) -> Bool {
        let end = monotonicNanos()
        let hash = summary?.stateHash ?? machine.stateHash()
        driver.abandonTransfer()
        var failure = failure
        // A primary that failed logs no end-of-log entry: its log is cut short, as the backup
        // then reports.
        if failure == nil {
            do { try driver.drain(finalStateHash: hash, timeout: drainTimeout) } catch is SideStopped {
                return true
            } catch {
                failure = "primary: \(error)"
            }
        }
        // A primary that went on alone has cut its backup off: it closes nothing, and the
        // backup, hearing nothing, asks the arbiter and halts.
        if driver.log != nil { (driver.link ?? results.firstLink)?.close() }
        context.network.stopMeasuring(now: end)
        var report = driver.report(end: end)
        if tookOver {
            // A side that went live after a failover reports over the whole window, the guest's
            // instructions counted from the window's start on the primary that crossed it.
            if let windowStart = results.instructionsAtWindowStart {
                report.primaryInstructions = machine.totalInstructions - windowStart
            }
            report.windowNanos = max(1, end > context.measureFrom ? end - context.measureFrom : 1)
            report.endedDuringWarmup = end < context.measureFrom
        }
        results.noteFinal(report: report, side: side, hash: hash, failure: failure)
        context.spares.close()
        return false
    }

    /// A crashed or halted side, restarted empty: waits for a primary alone to invite it, then
    /// receives the state transfer. Nil when the run ends first.
    private func spare() -> Life? {
        nameCurrentThread("spare")
        let spares = context.spares
        spares.offer(side)
        while let invitation = spares.awaitInvitation(for: side, until: adding(context.endAt, drainTimeout)) {
            // A backup crash due now strikes the new backup, during the transfer too: the source
            // stops waiting for entries at its time, as the first backup's does.
            let crash = CrashPoint(context.faults, role: .backup)
            let source = LiveLogSource(invitation.channel.openBackupEnd(), policy: options.ackPolicy, tracing: options.traceOutputs,
                                       heartbeat: options.heartbeat, failureTimeout: options.failureTimeout, linkFaults: context.linkFaults,
                                       crashDeadline: crash?.deadline ?? .max)
            do {
                // The program and vCPU count were validated before the run started.
                let machine = try Machine(program: program, vcpus: vcpus, memorySize: memory, memoryNode: options.memoryNode(of: side))
                if let restored = try StateRestore.receive(from: source, into: machine, crashDeadline: crash?.deadline ?? .max) {
                    return .backup(invitation.channel, epoch: invitation.epoch, owner: invitation.primary, restored: (machine, restored, source))
                }
            } catch is PrimarySilent {
                // The primary stopped during the transfer: wait for another.
            } catch is CrashDue {
                // Crashed while receiving: the host restarts empty again (the primary gives the
                // transfer up when this side falls silent).
                if let event = crash?.strike(context.faults, side: side, epoch: invitation.epoch, at: monotonicNanos()) {
                    results.update { $0.events.append(event) }
                }
                spares.offer(side)
                continue
            } catch {
                results.fail(backup: "backup: \(error)")
                invitation.channel.close()
                return nil
            }
            invitation.channel.close()
            spares.offer(side)
        }
        return nil
    }
}

/// What the hosts of one run report, gathered behind one mutex (each host writes at the end of
/// each life; the caller reads after every thread has joined).
final class RunResults: @unchecked Sendable {
    struct Fields {
        var report: ReplicationReport?
        var survivor: Side?
        var primaryHash: UInt64 = 0
        var backupHash: UInt64?
        var goLiveHash: UInt64?
        var backupReplayed: UInt64 = 0
        var backupOutputs = 0
        var resent = 0
        var acksSent: UInt64 = 0
        var ackDeliveries: [(received: UInt64, deliveredAt: UInt64)]?
        var primaryCPUs: [Int] = []
        var backupCPUs: [Int] = []
        var sabotagedSeq: UInt64?
        var recorded: [LogEntry]?
        var divergence: Divergence?
        var primaryFailure: String?
        var backupFailure: String?
        var traceFailure: String?
        var events: [RoleEvent] = []
        var transfers: [TransferRecord] = []
        var logRates: [[UInt64]] = []
        /// Each side's plain slices (`InterpreterTime`), over every life it had.
        var interpreterTime: [Side: InterpreterTime] = [:]
        var instructionsAtWindowStart: UInt64?
        /// Set by the watchdog before it cuts the links.
        var overran: String?
    }

    private let fields = Mutex(Fields())
    /// The run's first link (side A's first primary and side B's first backup).
    let firstLink: LogChannel?

    init(firstLink: LogChannel?) { self.firstLink = firstLink }

    /// A copy of everything gathered (after every host has joined).
    var gathered: Fields { fields.withLock { $0 } }

    func update(_ body: (inout Fields) -> Void) { fields.withLock { body(&$0) } }

    var instructionsAtWindowStart: UInt64? { fields.withLock { $0.instructionsAtWindowStart } }

    func note<Client>(primary driver: PrimaryDriver<Client>) {
        update { f in
            f.events += driver.events
            f.transfers += driver.transfers
            f.logRates.append(driver.logRate.bytes)
            f.interpreterTime[driver.side, default: .init()] += driver.interpreterTime
            if f.instructionsAtWindowStart == nil, driver.startedWindow { f.instructionsAtWindowStart = driver.instructionsAtWindowStart }
        }
    }

    func note<Client>(backupOf side: Side, events: [RoleEvent], interpreterTime: InterpreterTime, source: LiveLogSource, backup: BackupDriver,
                      takeover: BackupTakeover<Client>, sabotagedSeq: UInt64?, recorded: [LogEntry]?) {
        update { f in
            f.events += events
            f.interpreterTime[side, default: .init()] += interpreterTime
            f.acksSent += source.acks.acksSent
            if let acks = source.sentAcks { f.ackDeliveries = (f.ackDeliveries ?? []) + acks }
            f.backupReplayed += backup.entriesReplayed
            f.backupOutputs += backup.outputsChecked
            f.resent += takeover.resent
            f.goLiveHash = f.goLiveHash ?? takeover.goLiveStateHash
            f.sabotagedSeq = f.sabotagedSeq ?? sabotagedSeq
            f.recorded = f.recorded ?? recorded
        }
    }

    func noteBackupEnded(hash: UInt64) { update { $0.backupHash = hash } }

    func noteFinal(report: ReplicationReport, side: Side, hash: UInt64, failure: String?) {
        update { f in
            f.report = report
            f.survivor = side
            f.primaryHash = hash
            if let failure { f.primaryFailure = failure }
        }
    }

    func finish(_ trace: TraceWriter) {
        do { try trace.finish() } catch { update { $0.traceFailure = "\(error)" } }
    }

    func fail(divergence: Divergence) { update { $0.divergence = divergence } }
    func fail(primary message: String) { update { $0.primaryFailure = message } }
    func fail(backup message: String) { update { $0.backupFailure = $0.backupFailure ?? message } }
}

/// A host thread's name in `role`: `primary-vcpu0` when it runs the one vCPU, `primary-vcpus` when
/// it interleaves several on one thread (`perf report --sort comm` splits the cost by it).
func roleThreadName(_ role: String, vcpus: Int) -> String { vcpus == 1 ? "\(role)-vcpu0" : "\(role)-vcpus" }
