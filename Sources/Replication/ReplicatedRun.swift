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

/// Runs one scenario: the primary on `options.primaryCPU`, the backup on `options.backupCPU`
/// (fault tolerance on), the client inside the primary's device emulation.
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
            client: client,
            primary: try Machine(program: program, vcpus: vcpus, memorySize: memory),
            backup: options.faultTolerance ? try Machine(program: program, vcpus: vcpus, memorySize: memory) : nil)

        let backup = channel.map { channel in
            PinnedThread(cpu: options.backupCPU) {
                let backupMachine = results.backupMachine!
                let source = LiveLogSource(channel.backup, policy: options.ackPolicy, tracing: options.traceOutputs, recorder: trace)
                let sabotaged: SabotagedLogSource? = options.sabotage.touchesBackup ? SabotagedLogSource(source, sabotage: options.sabotage) : nil
                let inner: LogSource = sabotaged ?? source
                let tapped: TappedLogSource? = recordLog ? TappedLogSource(inner) : nil
                let replayed: LogSource = tapped ?? inner
                defer { results.sabotagedSeq = sabotaged?.applied }
                results.backupCPUs = allowedCPUs()
                var finalHash: UInt64?
                do {
                    try checkPinned("backup", to: options.backupCPU, allowed: results.backupCPUs)
                    let outcome = try Replay.run(machine: backupMachine, source: replayed, quantum: options.quantum,
                                                 checks: LogChecks.all.subtracting(options.sabotage.skipChecks))
                    results.backupReplayed = outcome.entriesReplayed
                    results.backupOutputs = outcome.outputsChecked
                    finalHash = outcome.stateHash
                } catch let divergence as Divergence {
                    results.divergence = divergence
                    channel.close()
                } catch {
                    results.backupFailure = "backup: \(error)"
                    channel.close()
                }
                results.backupHash = finalHash ?? backupMachine.stateHash()
                results.acksSent = source.acks.acksSent
                results.ackDeliveries = source.sentAcks
                results.recorded = tapped?.entries
                do { try trace?.finish() } catch { results.traceFailure = "\(error)" }
            }
        }

        let primary = PinnedThread(cpu: options.primaryCPU) {
            let primaryMachine = results.primaryMachine
            var driver = PrimaryDriver(options: options, machine: primaryMachine, channel: channel, client: results.client)
            results.primaryCPUs = allowedCPUs()
            var summary: RunSummary?
            do {
                try checkPinned("primary", to: options.primaryCPU, allowed: results.primaryCPUs)
                summary = try primaryMachine.drive(&driver, quantum: options.quantum)
            } catch {
                results.primaryFailure = "primary: \(error)"
            }
            let end = monotonicNanos()
            results.primaryHash = summary?.stateHash ?? primaryMachine.stateHash()
            // A primary that failed logs no end-of-log entry: its log is cut short, as the
            // backup then reports.
            if results.primaryFailure == nil { driver.drain(finalStateHash: results.primaryHash, timeout: drainTimeout) }
            channel?.close()
            driver.client.stopMeasuring(now: end)
            driver.client.chargeUnanswered(now: monotonicNanos())
            results.report = driver.report(end: end)
            results.client = driver.client
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

        var report = results.report!
        report.primaryStateHash = results.primaryHash
        report.backupStateHash = results.backupHash
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
        // After a divergence the backup closes the channel, so the primary's own failure (if
        // any) is only its consequence.
        report.failure = results.overran
            ?? (results.divergence == nil ? results.primaryFailure ?? results.backupFailure : results.backupFailure)
            ?? results.traceFailure
        return (report, results.client)
    }

    /// Throws unless the calling thread, asked to run on `cpu`, may run there only: a thread
    /// that silently runs unpinned would make every spinning measurement meaningless.
    private static func checkPinned(_ side: String, to cpu: Int?, allowed: [Int]) throws {
        guard let cpu, allowed != [cpu] else { return }
        throw ReplicationError("the \(side) thread could not be pinned to CPU \(cpu) (it may run on \(describeCPUs(allowed)))")
    }

    /// State shared by the two threads and the caller; each field is written by one thread and
    /// read after `join`, which orders the accesses.
    private final class Results<Client>: @unchecked Sendable {
        var client: Client
        let primaryMachine: Machine
        let backupMachine: Machine?
        var report: ReplicationReport?
        var primaryHash: UInt64 = 0
        var backupHash: UInt64?
        var backupReplayed: UInt64 = 0
        var backupOutputs = 0
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
        /// Set by the watchdog thread before it closes the channel; read after every join.
        var overran: String?

        init(client: Client, primary: Machine, backup: Machine?) {
            self.client = client
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
        let stalls = (log?.stalls.nanos ?? 0) - (measuring ? stats.stallAtWindowStart : 0)
            + stats.throttleNanos - (measuring ? stats.throttleAtWindowStart : 0)
            + stats.outputStallNanos - (measuring ? stats.outputStallAtWindowStart : 0)
        return ReplicationReport(
            faultTolerance: log != nil, endedDuringWarmup: !measuring, windowNanos: window,
            primaryInstructions: totalInstructions - (measuring ? instructionsAtWindowStart : 0),
            requestsSent: stats.requestsSent, outputs: stats.outputs, timerTicks: timerTicks,
            logEntries: lastSeq - (measuring ? stats.entriesAtWindowStart : 0),
            logBytes: (log?.bytesSent ?? 0) - (measuring ? stats.bytesAtWindowStart : 0),
            acksSent: 0, acksInWindow: stats.acksInWindow,
            heldOutputsP99: heldOutputs.totalCount > 0 ? heldOutputs.valueAtPercentile(99) : nil,
            primaryStallFraction: Double(stalls) / Double(window),
            backupLagP99Micros: backupLagMicros.totalCount > 0 ? backupLagMicros.valueAtPercentile(99) : nil,
            divergence: nil, failure: nil, primaryStateHash: 0, backupStateHash: nil,
            backupEntriesReplayed: 0, backupOutputsChecked: 0,
            outputReleases: outputs.trace, ackDeliveries: nil, recordedLog: nil)
    }
}
