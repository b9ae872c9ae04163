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
    public var primaryInstructions: UInt64
    public var requestsSent: Int
    public var outputs: Int
    public var timerTicks: Int
    public var logEntries: UInt64
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
    /// Any other failure of either side, as a one-line message.
    public var failure: String?
    public var primaryStateHash: UInt64
    public var backupStateHash: UInt64?
    public var backupEntriesReplayed: UInt64
    public var backupOutputsChecked: Int
    /// Every output release (its marker seq and release time), when traced.
    public var outputReleases: [(tag: UInt64, releasedAt: UInt64)]?
    /// Every ACK the backup sent (the seq it covers and its delivery time), when traced.
    public var ackDeliveries: [(received: UInt64, deliveredAt: UInt64)]?
    /// The CPUs each side's thread was allowed to run on, as the kernel reported them.
    public var primaryCPUs: [Int] = []
    public var backupCPUs: [Int] = []
    /// The seq of the entry a backup-side `Sabotage` changed, when one did.
    public var sabotagedSeq: UInt64?
    /// Every entry the backup replayed, when recorded in memory.
    public var recordedLog: [LogEntry]?
    /// The trace file the backup recorded the log to, if it did.
    public var logTrace: String?
    /// Failure detection, failover and what the clients saw of it (FT on only).
    public var failover: FailoverReport?

    public var windowSeconds: Double { Double(windowNanos) / 1e9 }

    /// The report of a scenario that could not run, or broke off, with its one-line reason.
    public static func failed(_ message: String, faultTolerance: Bool) -> ReplicationReport {
        ReplicationReport(
            faultTolerance: faultTolerance, endedDuringWarmup: false, windowNanos: 0, primaryInstructions: 0, requestsSent: 0,
            outputs: 0, timerTicks: 0, logEntries: 0, logBytes: 0, acksSent: 0, acksInWindow: 0, heldOutputsP99: nil,
            primaryStallFraction: 0, backupLagP99Micros: nil, divergence: nil, failure: message, primaryStateHash: 0,
            backupStateHash: nil, backupEntriesReplayed: 0, backupOutputsChecked: 0)
    }
    public var guestMIPS: Double { windowNanos > 0 ? Double(primaryInstructions) / Double(windowNanos) * 1e3 : 0 }
}

/// Runs one scenario: side A, the primary, on `options.primaryCPU`; side B, its backup, on
/// `options.backupCPU` (fault tolerance on); the clients behind a `ClientNetwork` that both sides
/// share, driven by whichever side is live. Faults in `options.faults` are injected on the way.
public enum ReplicatedRun {
    /// `recordLog` keeps every entry the backup replayed in memory (for tests); `trace` streams
    /// every entry the backup receives to a trace file, which the run finishes (a failure to
    /// write it fails the run). Without fault tolerance there is no log, and `trace` is unused.
    public static func run<Client: ClientLoad>(
        program: Program, vcpus: Int, memory: Int? = nil, options: ReplicationOptions, client: Client,
        recordLog: Bool = false, trace: TraceWriter? = nil
    ) throws -> (ReplicationReport, Client) {
        let drainTimeout = 2_000_000_000 + 4 * options.profile.roundTripNanos
        let node = options.ringNode ?? options.backupCPU.flatMap { HostTopology.current().node(ofCPU: $0) }
        let channel = options.faultTolerance
            ? LogChannel(profile: options.profile, capacity: options.logCapacity, node: node, wait: options.wait, seed: options.seed)
            : nil
        let results = Results(
            primary: try Machine(program: program, vcpus: vcpus, memorySize: memory),
            backup: options.faultTolerance ? try Machine(program: program, vcpus: vcpus, memorySize: memory) : nil)
        let context = RunContext(options: options, client: client)

        let backup = channel.map { channel in
            PinnedThread(cpu: options.backupCPU) {
                runBackup(channel: channel, context: context, results: results, recordLog: recordLog, trace: trace, drainTimeout: drainTimeout)
            }
        }
        let primary = PinnedThread(cpu: options.primaryCPU) {
            let primaryMachine = results.primaryMachine
            var driver = PrimaryDriver(context: context, machine: primaryMachine, channel: channel)
            results.primaryCPUs = allowedCPUs()
            var summary: RunSummary?
            defer {
                results.eventsA = driver.events
                if driver.measuring { results.instructionsAtWindowStartA = driver.instructionsAtWindowStart }
            }
            do {
                try checkPinned("primary", to: options.primaryCPU, allowed: results.primaryCPUs)
                summary = try primaryMachine.drive(&driver, quantum: options.quantum)
            } catch is SideStopped {
                // Crashed or halted: nothing of this side runs any more (no drain, no close).
                results.logRateA = driver.logRate.bytes
                return
            } catch {
                results.primaryFailure = "primary: \(error)"
            }
            let end = monotonicNanos()
            results.primaryHash = summary?.stateHash ?? primaryMachine.stateHash()
            // A primary that failed logs no end-of-log entry: its log is cut short, as the
            // backup then reports.
            if results.primaryFailure == nil {
                do { try driver.drain(finalStateHash: results.primaryHash, timeout: drainTimeout) } catch is SideStopped {
                    results.logRateA = driver.logRate.bytes
                    return
                } catch {
                    results.primaryFailure = "primary: \(error)"
                }
            }
            // A primary that went on alone has cut its backup off: it closes nothing, and the
            // backup, hearing nothing, asks the arbiter and halts.
            if driver.log != nil { channel?.close() }
            context.network.stopMeasuring(now: end)
            results.logRateA = driver.logRate.bytes
            results.report = driver.report(end: end)
            results.survivor = .a
        }
        // A channel that cannot carry the log (a link far too slow for the workload) would keep
        // the primary waiting for ring space, and the backup for entries, without end; past the
        // run's duration plus the final drain's timeout and a second's grace, the watchdog
        // closes the channel and the scenario fails with the reason.
        let finished = DispatchSemaphore(value: 0)
        let watchdog = channel.map { channel in
            PinnedThread(cpu: nil) {
                let limit = options.durationNanos + drainTimeout + 1_000_000_000
                if finished.wait(timeout: .now() + .nanoseconds(Int(min(limit, UInt64(Int.max))))) == .timedOut {
                    results.overran = "the run did not end within \(Double(limit / 1_000_000) / 1_000) s (its duration, the final drain and 1 s): the channel (\(options.profile)) could not carry the log, so the watchdog closed it"
                    channel.close()
                }
            }
        }
        primary.join()
        backup?.join()
        finished.signal()
        watchdog?.join()

        let network = context.network
        network.chargeUnanswered(now: monotonicNanos())
        // The survivor's report; a side that went live after a failover reports over the whole
        // window, the guest's instructions counted from the window's start on side A.
        var report: ReplicationReport
        if results.survivor == .b, var live = results.reportB {
            if let windowStartA = results.instructionsAtWindowStartA {
                live.primaryInstructions = results.finalInstructionsB - windowStartA
            }
            live.windowNanos = max(1, results.endB > context.measureFrom ? results.endB - context.measureFrom : 1)
            live.endedDuringWarmup = results.endB < context.measureFrom
            report = live
        } else if let a = results.report {
            report = a
        } else {
            report = .failed("no side survived: \(results.primaryFailure ?? results.backupFailure ?? "both stopped")", faultTolerance: options.faultTolerance)
        }
        report.primaryStateHash = results.survivor == .b ? results.backupHash ?? 0 : results.primaryHash
        report.backupStateHash = results.survivor == .b ? nil : results.backupHash
        report.backupEntriesReplayed = results.backupReplayed
        report.backupOutputsChecked = results.backupOutputs
        report.acksSent = results.acksSent
        report.ackDeliveries = results.ackDeliveries
        report.primaryCPUs = results.primaryCPUs
        report.backupCPUs = results.backupCPUs
        report.sabotagedSeq = results.sabotagedSeq
        report.recordedLog = results.recorded
        report.logTrace = options.faultTolerance ? trace?.path : nil
        report.divergence = results.divergence
        if options.faultTolerance {
            let timeline = network.timeline
            timeline.addLogBytes(results.logRateA)
            // Requests sent in the last retry period (plus 10 ms) before the run's end may be
            // waiting for a re-send that the end cut off: only older ones count as unanswered.
            let end = context.endAt
            report.failover = FailoverReport(
                faults: context.faults?.faults ?? [], faultTimes: options.faults.indices.map { context.faults?.startedAt($0) },
                runStart: context.start, events: (results.eventsA + results.eventsB).sorted { $0.at < $1.at },
                survivor: results.survivor, finalEpoch: context.arbiter.current.epoch, goLiveStateHash: results.goLiveHash,
                epochsWithTwoOwners: network.epochsWithTwoOwners,
                staleReplies: network.staleReplies,
                outputsLost: results.survivor.map { network.outputsMissingFromHistory(of: $0) } ?? 0,
                requestsUnanswered: network.unanswered(sentBefore: end - min(end, options.clientRetry + 10_000_000)),
                duplicatesDropped: network.duplicatesDropped, retransmissions: network.retransmissions,
                outputsResent: results.resent, gaps: network.gaps, heartbeatNanos: options.heartbeat,
                failureTimeoutNanos: options.failureTimeout, timeline: timeline)
        }
        // After a divergence the backup closes the channel, so the primary's own failure (if
        // any) is only its consequence.
        report.failure = results.overran
            ?? (results.divergence == nil ? results.primaryFailure ?? results.backupFailure : results.backupFailure)
            ?? results.traceFailure ?? report.failure
        return (report, network.finalClient)
    }

    /// Side B: replays the log, and fails over if the primary falls silent.
    private static func runBackup<Client: ClientLoad>(
        channel: LogChannel, context: RunContext<Client>, results: Results, recordLog: Bool, trace: TraceWriter?, drainTimeout: UInt64
    ) {
        let options = context.options
        let backupMachine = results.backupMachine!
        let source = LiveLogSource(channel.backup, policy: options.ackPolicy, tracing: options.traceOutputs, recorder: trace,
                                   heartbeat: options.heartbeat, failureTimeout: options.failureTimeout, linkFaults: context.linkFaults,
                                   crashDeadline: CrashPoint(context.faults, role: .backup)?.deadline ?? .max)
        let sabotaged: SabotagedLogSource? = options.sabotage.touchesBackup ? SabotagedLogSource(source, sabotage: options.sabotage) : nil
        let inner: LogSource = sabotaged ?? source
        let tapped: TappedLogSource? = recordLog ? TappedLogSource(inner) : nil
        let replayed: LogSource = tapped ?? inner
        let backup = BackupDriver(source: replayed, checks: LogChecks.all.subtracting(options.sabotage.skipChecks))
        let takeover = BackupTakeover(context: context, machine: backupMachine, backup: backup, hashAtGoLive: recordLog)
        var replica = ReplicaDriver(machine: backupMachine, backup: backup, takeover: takeover, faults: context.faults)
        defer {
            results.sabotagedSeq = sabotaged?.applied
            results.eventsB = replica.events + (takeover.primary?.events ?? [])
            results.acksSent = source.acks.acksSent
            results.ackDeliveries = source.sentAcks
            results.recorded = tapped?.entries
            results.backupReplayed = backup.entriesReplayed
            results.backupOutputs = backup.outputsChecked
            results.resent = takeover.resent
            results.goLiveHash = takeover.goLiveStateHash
            do { try trace?.finish() } catch { results.traceFailure = "\(error)" }
        }
        results.backupCPUs = allowedCPUs()
        var finalHash: UInt64?
        do {
            try checkPinned("backup", to: options.backupCPU, allowed: results.backupCPUs)
            let summary = try backupMachine.drive(&replica, quantum: options.quantum)
            finalHash = summary.stateHash
            if let live = takeover.primary {
                let end = monotonicNanos()
                context.network.stopMeasuring(now: end)
                results.reportB = live.report(end: end)
                results.endB = end
                results.finalInstructionsB = summary.totalInstructions
                results.survivor = .b
            } else {
                try backup.checkLogEnded(finalStateHash: summary.stateHash, instructions: summary.totalInstructions)
            }
        } catch is SideStopped {
            return
        } catch let divergence as Divergence {
            results.divergence = divergence
            channel.close()
        } catch {
            results.backupFailure = "backup: \(error)"
            channel.close()
        }
        results.backupHash = finalHash ?? backupMachine.stateHash()
    }

    /// Throws unless the calling thread, asked to run on `cpu`, may run there only: a thread
    /// that silently runs unpinned would make every spinning measurement meaningless.
    private static func checkPinned(_ side: String, to cpu: Int?, allowed: [Int]) throws {
        guard let cpu, allowed != [cpu] else { return }
        throw ReplicationError("the \(side) thread could not be pinned to CPU \(cpu) (it may run on \(describeCPUs(allowed)))")
    }

    /// State shared by the two threads and the caller; each field is written by one thread and
    /// read after `join`, which orders the accesses.
    private final class Results: @unchecked Sendable {
        let primaryMachine: Machine
        let backupMachine: Machine?
        var report: ReplicationReport?
        var reportB: ReplicationReport?
        var survivor: Side?
        var endB: UInt64 = 0
        var finalInstructionsB: UInt64 = 0
        var instructionsAtWindowStartA: UInt64?
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
        var eventsA: [RoleEvent] = []
        var eventsB: [RoleEvent] = []
        var logRateA: [UInt64] = []
        /// Set by the watchdog thread before it closes the channel; read after every join.
        var overran: String?

        init(primary: Machine, backup: Machine?) {
            primaryMachine = primary
            backupMachine = backup
        }
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
        let stalls = (sender?.stalls.nanos ?? 0) - (measuring ? stats.stallAtWindowStart : 0)
            + stats.throttleNanos - (measuring ? stats.throttleAtWindowStart : 0)
            + stats.outputStallNanos - (measuring ? stats.outputStallAtWindowStart : 0)
            + stats.ringWaitNanos - (measuring ? stats.ringWaitAtWindowStart : 0)
        return ReplicationReport(
            faultTolerance: options.faultTolerance, endedDuringWarmup: !measuring, windowNanos: window,
            primaryInstructions: totalInstructions - (measuring ? instructionsAtWindowStart : 0),
            requestsSent: stats.requestsSent, outputs: stats.outputs, timerTicks: timerTicks,
            logEntries: lastSeq - (measuring ? stats.entriesAtWindowStart : 0),
            logBytes: (sender?.bytesSent ?? 0) - (measuring ? stats.bytesAtWindowStart : 0),
            acksSent: 0, acksInWindow: stats.acksInWindow,
            heldOutputsP99: heldOutputs.totalCount > 0 ? heldOutputs.valueAtPercentile(99) : nil,
            primaryStallFraction: Double(stalls) / Double(window),
            backupLagP99Micros: backupLagMicros.totalCount > 0 ? backupLagMicros.valueAtPercentile(99) : nil,
            divergence: nil, failure: nil, primaryStateHash: 0, backupStateHash: nil,
            backupEntriesReplayed: 0, backupOutputsChecked: 0,
            outputReleases: outputs.trace, ackDeliveries: nil, recordedLog: nil)
    }
}
