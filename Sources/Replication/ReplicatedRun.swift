import Dispatch
import GuestVM
import Histogram
import LogChannel
import LogTrace
import Topology

/// What one replicated (or, with fault tolerance off, unreplicated) run measured. Rates are over
/// the measurement window: from the end of warm-up to the end of the run.
public struct ReplicationReport: Sendable {
    public var faultTolerance: Bool
    /// The guest stopped before the warm-up ended, so the figures cover the warm-up.
    public var endedDuringWarmup: Bool
    public var windowNanos: UInt64
    /// A fixed-work guest (every vCPU halted): how long its work took, from the run's start to
    /// the halt, warm-up included. Nil when the run ended by its duration.
    public var workNanos: UInt64?
    public var primaryInstructions: UInt64
    public var requestsSent: Int
    public var outputs: Int
    public var timerTicks: Int
    public var logEntries: UInt64
    /// Entries that record an interleaving decision (timeslice switches), in the window.
    public var orderingEntries: UInt64
    public var logBytes: UInt64
    /// Every ACK the backup sent, over the whole run.
    public var acksSent: UInt64
    /// ACKs that reached the primary inside the window.
    public var acksInWindow: Int
    /// nil when no output was held during the window.
    public var heldOutputsP99: UInt64?
    /// Fraction of the window the primary spent waiting: for log ring space, for room to hold
    /// outputs, or slowed because the backup lagged.
    public var primaryStallFraction: Double
    /// nil when no ACK reported the backup's progress during the window.
    public var backupLagP99Micros: UInt64?
    public var divergence: Divergence?
    /// The backup gave up a bounded time after the primary ended (free interleaving), and why.
    public var stalled: String?
    /// Any other failure of either side, as a one-line message.
    public var failure: String?
    public var primaryStateHash: UInt64
    public var backupStateHash: UInt64?
    public var backupEntriesReplayed: UInt64
    public var backupOutputsChecked: Int
    /// Every output release (its marker seq and release time), when traced.
    public var outputReleases: [(tag: UInt64, releasedAt: UInt64)]?
    /// Recorded interleaving with traced outputs: the output rule checked against every vCPU's
    /// ring (`RecordedReplication.audit`).
    public var crossVCPUAudit: OutputRuleAudit?
    /// Every ACK the backup sent (the seq it covers and its delivery time), when traced.
    public var ackDeliveries: [(received: UInt64, deliveredAt: UInt64)]?
    /// The CPUs each side's thread was allowed to run on, as the kernel reported them.
    public var primaryCPUs: [Int] = []
    public var backupCPUs: [Int] = []
    /// ns per guest instruction of the primary's and the backup's cores on this run's guest: each
    /// side's time inside the interpreter over its plain slices (`InterpreterTime`), which in
    /// round robin are the same slices on both sides. Side A's core is the primary's, side B's the
    /// backup's, whatever roles they took later. Nil where not measured (parallel runs, a side
    /// with no plain slice, and the backup without FT).
    public var primaryCoreNanos: Double?
    public var backupCoreNanos: Double?
    /// The backup's core speed over the primary's (above 1: the backup's core is faster).
    public var coreRatio: Double? { primaryCoreNanos.flatMap { p in backupCoreNanos.map { p / $0 } } }
    /// The seq of the entry a backup-side `Sabotage` changed, when one did.
    public var sabotagedSeq: UInt64?
    /// Every entry the backup replayed, when recorded in memory.
    public var recordedLog: [LogEntry]?
    /// The trace file the backup recorded the log to, if it did.
    public var logTrace: String?
    /// Failure detection, failover and what the clients saw of it (FT on only).
    public var failover: FailoverReport?

    public var windowSeconds: Double { Double(windowNanos) / 1e9 }

    /// A report with nothing measured yet, for a runner that fills in what it measures.
    public static func empty(faultTolerance: Bool) -> ReplicationReport {
        ReplicationReport(
            faultTolerance: faultTolerance, endedDuringWarmup: false, windowNanos: 0, workNanos: nil, primaryInstructions: 0, requestsSent: 0,
            outputs: 0, timerTicks: 0, logEntries: 0, orderingEntries: 0, logBytes: 0, acksSent: 0, acksInWindow: 0, heldOutputsP99: nil,
            primaryStallFraction: 0, backupLagP99Micros: nil, divergence: nil, stalled: nil, failure: nil, primaryStateHash: 0,
            backupStateHash: nil, backupEntriesReplayed: 0, backupOutputsChecked: 0)
    }

    /// What the primary's side of a parallel run (`free`, `recorded`) measured, from `start` to
    /// `end`: its first fault, an unpinnable thread or a host's error as the failure; the work
    /// time if every vCPU halted.
    static func parallelPrimary(_ run: ParallelRun.Summary, start: UInt64, end: UInt64, faultTolerance: Bool) -> ReplicationReport {
        var report = empty(faultTolerance: faultTolerance)
        report.failure = run.firstFault.map { "primary: \($0)" } ?? run.pinningFailure.map { "primary: \($0)" }
            ?? run.firstError.map { "primary: \($0)" }
        report.windowNanos = max(1, run.wallNanos)
        report.workNanos = run.finished ? end - start : nil
        report.primaryInstructions = run.totalInstructions
        report.outputs = run.vcpus.reduce(0) { $0 + $1.outputCount }
        report.primaryStateHash = run.stateHash
        report.primaryCPUs = run.cpusUsed
        return report
    }

    /// The report of a scenario that could not run, or broke off, with its one-line reason.
    public static func failed(_ message: String, faultTolerance: Bool) -> ReplicationReport {
        var report = empty(faultTolerance: faultTolerance)
        report.failure = message
        return report
    }
    public var guestMIPS: Double { windowNanos > 0 ? Double(primaryInstructions) / Double(windowNanos) * 1e3 : 0 }
}

/// Runs one scenario: side A's host, first the primary, on `options.primaryCPUs`; side B's host,
/// first its backup, on `options.backupCPUs` (fault tolerance on; each host then plays whatever
/// roles failures give it, see `SideHost`); the clients behind a `ClientNetwork` that both sides
/// share, driven by whichever side is live. Faults in `options.faults` are injected on the way.
public enum ReplicatedRun {
    /// `recordLog` keeps every entry the first backup replayed in memory (for tests); `trace`
    /// streams every entry the first backup receives to a trace file, which the run finishes (a
    /// failure to write it fails the run). Without fault tolerance there is no log, and `trace`
    /// is unused.
    public static func run<Client: ClientLoad>(
        program: Program, vcpus: Int, memory: Int? = nil, options: ReplicationOptions, client: Client,
        recordLog: Bool = false, trace: TraceWriter? = nil
    ) throws -> (ReplicationReport, Client) {
        let drainTimeout = 2_000_000_000 + 4 * options.profile.roundTripNanos
        let channel = options.faultTolerance
            ? LogChannel(profile: options.profile, capacity: options.logCapacity, logNode: options.ringNode(readBy: .b),
                         ackNode: options.ringNode(readBy: .a), wait: options.wait, seed: options.seed)
            : nil
        // Each host builds its machine on its own thread (`SideHost.freshMachine`); whether one
        // can be built is checked here, before any thread starts.
        _ = try Machine.memorySize(for: program, vcpus: vcpus, requested: memory)
        let context = RunContext(options: options, client: client)
        let results = RunResults(firstLink: channel)
        if let channel { context.spares.add(link: channel) }
        let hostA = SideHost(side: .a, context: context, results: results, program: program, vcpus: vcpus, memory: memory,
                             drainTimeout: drainTimeout, recordLog: recordLog, trace: trace, first: .primary(channel))
        let hostB = channel.map { channel in
            SideHost(side: .b, context: context, results: results, program: program, vcpus: vcpus, memory: memory,
                     drainTimeout: drainTimeout, recordLog: recordLog, trace: trace,
                     first: .backup(channel, epoch: 1, owner: .a, restored: nil))
        }

        let backup = channel.map { channel in
            PinnedThread(cpus: options.backupCPUs) {
                let cpus = allowedCPUs()
                results.update { $0.backupCPUs = cpus }
                do { try checkPinned("backup", to: options.backupCPUs, allowed: cpus) } catch {
                    results.fail(backup: "backup: \(error)")
                    channel.close()
                    return
                }
                hostB!.run()
            }
        }
        let primary = PinnedThread(cpus: options.primaryCPUs) {
            let cpus = allowedCPUs()
            results.update { $0.primaryCPUs = cpus }
            do { try checkPinned("primary", to: options.primaryCPUs, allowed: cpus) } catch {
                results.fail(primary: "primary: \(error)")
                channel?.close()
                return
            }
            hostA.run()
        }
        // A channel that cannot carry the log (a link far too slow for the workload) would keep
        // the primary waiting for ring space, and the backup for entries, without end; past the
        // run's duration plus the final drain's timeout and a second's grace, the watchdog
        // cuts every link and the scenario fails with the reason.
        let finished = DispatchSemaphore(value: 0)
        let watchdog = channel.map { _ in
            PinnedThread(cpu: nil) {
                let limit = options.durationNanos + drainTimeout + 1_000_000_000
                if finished.wait(timeout: .now() + .nanoseconds(Int(min(limit, UInt64(Int.max))))) == .timedOut {
                    results.update { $0.overran = "the run did not end within \(Double(limit / 1_000_000) / 1_000) s (its duration, the final drain and 1 s): the channel (\(options.profile)) could not carry the log, so the watchdog closed it" }
                    context.spares.close(cutLinks: true)
                }
            }
        }
        primary.join()
        backup?.join()
        finished.signal()
        watchdog?.join()

        let r = results.gathered
        let network = context.network
        network.chargeUnanswered(now: monotonicNanos())
        var report = r.report
            ?? .failed("no side survived: \(r.primaryFailure ?? r.backupFailure ?? "both stopped")", faultTolerance: options.faultTolerance)
        report.primaryStateHash = r.primaryHash
        report.backupStateHash = r.backupHash
        report.backupEntriesReplayed = r.backupReplayed
        report.backupOutputsChecked = r.backupOutputs
        report.acksSent = r.acksSent
        report.ackDeliveries = r.ackDeliveries
        report.primaryCPUs = r.primaryCPUs
        report.backupCPUs = r.backupCPUs
        report.primaryCoreNanos = r.interpreterTime[.a]?.nanosPerInstruction
        report.backupCoreNanos = r.interpreterTime[.b]?.nanosPerInstruction
        report.sabotagedSeq = r.sabotagedSeq
        report.recordedLog = r.recorded
        report.logTrace = options.faultTolerance ? trace?.path : nil
        report.divergence = r.divergence
        if options.faultTolerance {
            let timeline = network.timeline
            for rate in r.logRates { timeline.addLogBytes(rate) }
            // Requests sent in the last retry period (plus 10 ms) before the run's end may be
            // waiting for a re-send that the end cut off: only older ones count as unanswered.
            let end = context.endAt
            report.failover = FailoverReport(
                faults: context.faults?.faults ?? [], faultTimes: options.faults.indices.map { context.faults?.startedAt($0) },
                runStart: context.start, events: r.events.sorted { $0.at < $1.at },
                survivor: r.survivor, finalEpoch: context.arbiter.current.epoch, goLiveStateHash: r.goLiveHash,
                epochsWithTwoOwners: network.epochsWithTwoOwners,
                staleReplies: network.staleReplies,
                outputsLost: r.survivor.map { network.outputsMissingFromHistory(of: $0) } ?? 0,
                requestsUnanswered: network.unanswered(sentBefore: end - min(end, options.clientRetry + 10_000_000)),
                duplicatesDropped: network.duplicatesDropped, retransmissions: network.retransmissions,
                outputsResent: r.resent, transfers: r.transfers.sorted { $0.startedAt < $1.startedAt }, gaps: network.gaps,
                heartbeatNanos: options.heartbeat, failureTimeoutNanos: options.failureTimeout, timeline: timeline)
        }
        // After a divergence the backup closes the channel, so the primary's own failure (if
        // any) is only its consequence.
        report.failure = r.overran
            ?? (r.divergence == nil ? r.primaryFailure ?? r.backupFailure : r.backupFailure)
            ?? r.traceFailure ?? report.failure
        return (report, network.finalClient)
    }

    /// Throws unless the calling thread, asked to run on `cpus`, may run there only: a thread
    /// that silently runs unpinned would make every spinning measurement meaningless.
    private static func checkPinned(_ side: String, to cpus: [Int]?, allowed: [Int]) throws {
        guard let cpus, allowed != cpus else { return }
        throw ReplicationError("the \(side) thread could not be pinned to CPU \(describeCPUs(cpus)) (it may run on \(describeCPUs(allowed)))")
    }
}

/// Records every entry a `LogSource` hands out (test instrumentation).
final class TappedLogSource: LogSource {
    let inner: LogSource
    private(set) var entries: [LogEntry] = []
    private var pending: LogEntry?

    init(_ inner: LogSource) { self.inner = inner }

    func next() throws -> LogEntryView? {
        let entry = try inner.next()
        pending = entry?.owned
        return entry
    }

    func consume() {
        if let pending { entries.append(pending) }
        pending = nil
        inner.consume()
    }
}

extension PrimaryDriver {
    func report(end: UInt64) -> ReplicationReport {
        let windowStart = measuring ? stats.windowStart : start
        let window = end > windowStart ? end - windowStart : 1
        let stalls = linkStallNanos - (measuring ? stats.stallAtWindowStart : 0)
            + stats.throttleNanos - (measuring ? stats.throttleAtWindowStart : 0)
            + stats.outputStallNanos - (measuring ? stats.outputStallAtWindowStart : 0)
            + stats.ringWaitNanos - (measuring ? stats.ringWaitAtWindowStart : 0)
        return ReplicationReport(
            faultTolerance: options.faultTolerance, endedDuringWarmup: !measuring, windowNanos: window,
            workNanos: machine.allHalted && end > context.start ? end - context.start : nil,
            primaryInstructions: totalInstructions - (measuring ? instructionsAtWindowStart : 0),
            requestsSent: stats.requestsSent, outputs: stats.outputs, timerTicks: timerTicks,
            logEntries: lastSeq - (measuring ? stats.entriesAtWindowStart : 0),
            orderingEntries: stats.switches - (measuring ? stats.switchesAtWindowStart : 0),
            logBytes: linkBytes - (measuring ? stats.bytesAtWindowStart : 0),
            acksSent: 0, acksInWindow: stats.acksInWindow,
            heldOutputsP99: heldOutputs.totalCount > 0 ? heldOutputs.valueAtPercentile(99) : nil,
            primaryStallFraction: Double(stalls) / Double(window),
            backupLagP99Micros: backupLagMicros.totalCount > 0 ? backupLagMicros.valueAtPercentile(99) : nil,
            divergence: nil, stalled: nil, failure: nil, primaryStateHash: 0, backupStateHash: nil,
            backupEntriesReplayed: 0, backupOutputsChecked: 0,
            outputReleases: outputs.trace, ackDeliveries: nil, recordedLog: nil)
    }
}
