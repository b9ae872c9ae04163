#if canImport(Glibc)
import Glibc
#endif
import CPlatform
import Foundation
import LogChannel
import Topology

/// A result set: `runs.csv`, `latency.csv`, `histograms.csv`, `summary.csv`, `faults.csv`,
/// `timeline.csv` and `meta.json` (and, from `ftbench suite` and `ftbench chart`, `charts/` and
/// `index.html`) in
/// `results/<name>-<UTC timestamp>/`. Columns and units are documented in results/README.md.
///
/// Written atomically and never over anything: the files go into a `<folder>.partial/` created
/// exclusively (a folder left by another run is never reused), each file is created exclusively
/// without following links, and the folder takes its final name with a rename that fails rather
/// than replace an existing one; a name already taken gets `-2`, `-3`... So two runs that end in
/// the same second both keep their results, and an interrupted run leaves either nothing or a
/// `.partial` folder that no reader takes for a result set. A set whose scenarios did not all
/// run (interrupted) says `"complete": false` in meta.json and its folder ends in `-incomplete`.
public struct ResultSet {
    /// Bumped whenever a column or a meta.json field changes meaning.
    public static let schemaVersion = 9

    public static let runsHeader = [
        "row", "round", "status", "error", "workload", "program_hash", "defines", "vcpus", "memory_bytes", "ft", "channel_profile",
        "one_way_us", "bandwidth_bit_s", "jitter", "ack_policy", "interleaving", "arrivals", "offered_rps", "warmup_s",
        "window_s", "lag_bound_us", "log_capacity", "primary_cpus", "backup_cpus", "seed",
        "achieved_rps", "ft_ratio", "guest_mips", "work_s", "free_ratio", "core_ratio", "ft_ratio_per_core", "primary_core_ns",
        "backup_core_ns", "primary_speed_ratio", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
        "uncorrected_p50_us", "uncorrected_p99_us", "requests_intended", "requests_sent", "replies_answered",
        "requests_unsent", "requests_unanswered", "duplicate_replies",
        "log_entries_per_s", "ordering_entries_per_s", "log_mbit_per_s", "acks_per_s", "outputs_held_p99", "primary_stall_pct",
        "backup_lag_p99_us", "divergences", "ended_in_warmup", "other_cpu_pct", "steal_pct", "noisy", "oversubscribed", "log_trace",
        "faults", "heartbeat_us", "failure_timeout_us", "failovers", "final_epoch", "two_owner_epochs", "outputs_lost",
        "requests_lost", "transport_duplicates", "retransmissions", "scenario",
    ]
    public static let latencyHeader = ["row", "percentile", "latency_us", "uncorrected_us"]
    public static let histogramsHeader = ["row", "corrected", "value_ns", "count"]
    public static let summaryHeader = [
        "scenario", "workload", "ft", "channel_profile", "ack_policy", "offered_rps", "vcpus", "metric", "n",
        "median", "ci_low", "ci_high", "coverage", "half_width_pct", "wide",
    ]
    /// Percentiles of the latency curve in latency.csv.
    public static let curve: [Double] = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100]
    /// A ratio whose interval is wider than this (±2%) is flagged `wide` in summary.csv.
    public static let ratioHalfWidthTarget = 0.02

    public var results: [ScenarioResult]
    public var meta: Meta

    public init(results: [ScenarioResult], meta: Meta) {
        self.results = results
        self.meta = meta
        let primary = Set(results.flatMap(\.report.primaryCPUs)), backup = Set(results.flatMap(\.report.backupCPUs))
        self.meta.cpusUsed = ["primary": describeCPUs(Array(primary)), "backup": backup.isEmpty ? "" : describeCPUs(Array(backup))]
    }

    public struct Meta: Codable, Sendable {
        public var schemaVersion: Int
        public var ftbenchVersion: String
        /// The git commit the binary was built from, and whether its tree had uncommitted
        /// changes to tracked files.
        public var build: Build
        public var commandLine: [String]
        public var createdUTC: String
        /// Every scenario that was asked for ran (false: the run was interrupted).
        public var complete: Bool
        public var scenariosPlanned: Int
        public var scenariosRun: Int
        public var scenariosFailed: Int
        /// Every setting the run used, defaults included, as the command line would spell it.
        public var settings: [String: String]
        /// The CPUs each side's thread actually ran on (its affinity mask, as the kernel
        /// reported it), over every scenario of the set: `0`, or `0-1` when unpinned.
        public var cpusUsed: [String: String]
        public var machine: Machine
        public var calibration: CalibrationFigures?
        /// Each side's CPUs and NUMA node as placed, and any fallback (absent in sets before
        /// schema 6).
        public var placement: [String: String]?
        /// Some scenario ran more spinning threads than it had CPUs (its rows say which).
        public var oversubscribed: Bool?

        // meta.json's keys are snake case (`created_utc`); these spellings are what a decoder's
        // convertFromSnakeCase turns them back into, so that the reader decodes what the writer
        // encoded (Foundation's conversion does not restore `UTC` or `BP50`).
        enum CodingKeys: String, CodingKey {
            case schemaVersion, ftbenchVersion, build, commandLine, createdUTC = "createdUtc", complete, scenariosPlanned, scenariosRun
            case scenariosFailed, settings, cpusUsed, machine, calibration, placement, oversubscribed
        }

        public struct Build: Codable, Sendable {
            public var commit: String
            public var dirty: Bool
        }

        public struct Machine: Codable, Sendable {
            public var cpuModel: String
            public var cpus: Int
            public var numaNodes: Int
            public var allocator: String
        }

        public struct CalibrationFigures: Codable, Sendable {
            public var floorRoundTripP50Ns: Double
            public var floorRoundTripP99Ns: Double
            public var channelRoundTrip8BP50Ns: Double
            public var channelRoundTrip8BP99Ns: Double
            public var channelRoundTrip64BP50Ns: Double
            public var channelRoundTrip64BP99Ns: Double
            public var throughputOneAtATimePerS: Double
            public var throughputBatchedPerS: Double
            public var interpreterNanosPerInstruction: Double

            enum CodingKeys: String, CodingKey {
                case floorRoundTripP50Ns, floorRoundTripP99Ns, throughputOneAtATimePerS, throughputBatchedPerS, interpreterNanosPerInstruction
                case channelRoundTrip8BP50Ns = "channelRoundTrip8Bp50Ns", channelRoundTrip8BP99Ns = "channelRoundTrip8Bp99Ns"
                case channelRoundTrip64BP50Ns = "channelRoundTrip64Bp50Ns", channelRoundTrip64BP99Ns = "channelRoundTrip64Bp99Ns"
            }

            public init(_ c: Calibration) {
                floorRoundTripP50Ns = c.floor.p50
                floorRoundTripP99Ns = c.floor.p99
                channelRoundTrip8BP50Ns = c.roundTrip8.p50
                channelRoundTrip8BP99Ns = c.roundTrip8.p99
                channelRoundTrip64BP50Ns = c.roundTrip64.p50
                channelRoundTrip64BP99Ns = c.roundTrip64.p99
                throughputOneAtATimePerS = c.throughputOneAtATime
                throughputBatchedPerS = c.throughputBatched
                interpreterNanosPerInstruction = c.interpreterNanosPerInstruction
            }
        }

        public init(commandLine: [String], settings: [String: String] = [:], calibration: Calibration?,
                    allocator: String = "system malloc", planned: Int = 0, complete: Bool = true) {
            let host = HostTopology.current()
            schemaVersion = ResultSet.schemaVersion
            ftbenchVersion = ResultSet.ftbenchVersion
            build = Build(commit: BuildRevision.commit, dirty: BuildRevision.dirty)
            self.commandLine = commandLine
            createdUTC = ResultSet.timestamp(Date(), compact: false)
            self.complete = complete
            scenariosPlanned = planned
            scenariosRun = 0
            scenariosFailed = 0
            self.settings = settings
            cpusUsed = [:]
            machine = Machine(cpuModel: host.cpuModel, cpus: host.cpuCount, numaNodes: host.numaNodes, allocator: allocator)
            self.calibration = calibration.map(CalibrationFigures.init)
        }
    }

    public static let ftbenchVersion = "0.2.0"

    public static func timestamp(_ date: Date, compact: Bool) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = compact ? "yyyyMMdd'T'HHmmss'Z'" : "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return formatter.string(from: date)
    }

    // MARK: Rows

    /// The rows of runs.csv, one per result.
    public func runsCSV() -> String {
        var lines = [Self.runsHeader.joined(separator: ",")]
        let cpuCount = meta.machine.cpus
        for (row, r) in results.enumerated() {
            let s = r.scenario, o = s.options, ft = o.faultTolerance
            let measured = r.status != .failed
            let window = r.report.windowSeconds
            let hasLatency = r.latency.totalCount > 0
            func us(_ nanos: UInt64) -> String { Format.micros(nanos) }
            func p(_ q: Double) -> String { hasLatency ? us(r.latency.valueAtPercentile(q)) : "" }
            func pu(_ q: Double) -> String { r.uncorrected.totalCount > 0 ? us(r.uncorrected.valueAtPercentile(q)) : "" }
            func perSecond(_ count: Double) -> String { window > 0 ? Format.fixed(count / window, 1) : "" }
            func onlyMeasured(_ text: String) -> String { measured ? text : "" }
            let clients = s.rate != nil
            // Recorded interleaving with FT off encodes its entries and discards them: counted too.
            let logged = ft || s.interleaving == .recorded
            let fields: [String] = [
                String(row), String(r.round), r.status.rawValue, r.error ?? "", s.workload, Format.hex(s.programHash), s.defines,
                String(s.vcpus), s.memory.map(String.init) ?? "", ft ? "on" : "off",
                ft ? o.profile.name : "", ft ? us(o.profile.oneWayLatencyNanos) : "",
                ft ? (o.profile.bandwidthBitsPerSecond.map(String.init) ?? "") : "", ft ? o.profile.jitterSpec : "",
                ft ? o.ackPolicy.description : "", s.interleaving.description, clients ? s.arrivals.description : "",
                clients && !s.arrivals.isClosed ? Format.number(s.rate!) : "",
                Format.number(Double(o.warmupNanos) / 1e9), onlyMeasured(Format.fixed(window, 3)),
                ft ? us(o.lagBound) : "", ft ? String(o.logCapacity) : "",
                describeCPUs(r.report.primaryCPUs), ft ? describeCPUs(r.report.backupCPUs) : "", String(o.seed),
                onlyMeasured(clients ? Format.fixed(r.achievedRate, 1) : ""), r.ftRatio.map { Format.fixed($0, 4) } ?? "",
                onlyMeasured(Format.fixed(r.report.guestMIPS, 1)),
                onlyMeasured(r.report.workNanos.map { Format.fixed(Double($0) / 1e9, 6) } ?? ""),
                r.freeRatio.map { Format.fixed($0, 4) } ?? "",
                r.report.coreRatio.map { Format.fixed($0, 4) } ?? "", r.ftRatioPerCore.map { Format.fixed($0, 4) } ?? "",
                r.report.primaryCoreNanos.map { Format.fixed($0, 4) } ?? "", r.report.backupCoreNanos.map { Format.fixed($0, 4) } ?? "",
                r.primarySpeedRatio.map { Format.fixed($0, 4) } ?? "",
                p(50), p(90), p(99), p(99.9), hasLatency ? us(r.latency.max) : "", pu(50), pu(99),
                onlyMeasured(clients ? String(r.requestsIntended) : ""), onlyMeasured(clients ? String(r.requestsSent) : ""),
                onlyMeasured(clients ? String(r.repliesAnswered) : ""), onlyMeasured(clients ? String(r.requestsUnsent) : ""),
                onlyMeasured(clients ? String(r.requestsUnanswered) : ""), onlyMeasured(clients ? String(r.duplicateReplies) : ""),
                logged && measured ? perSecond(Double(r.report.logEntries)) : "",
                logged && measured ? perSecond(Double(r.report.orderingEntries)) : "",
                logged && measured && window > 0 ? Format.fixed(Double(r.report.logBytes) * 8 / window / 1e6, 3) : "",
                ft && measured ? perSecond(Double(r.report.acksInWindow)) : "",
                r.report.heldOutputsP99.map(String.init) ?? "", onlyMeasured(Format.fixed(r.report.primaryStallFraction * 100, 2)),
                r.report.backupLagP99Micros.map(String.init) ?? "", ft ? String(r.divergences) : "",
                onlyMeasured(r.report.endedDuringWarmup ? "yes" : "no"),
                r.interference.map { Format.fixed($0.otherProcesses * 100, 2) } ?? "",
                r.interference.map { Format.fixed($0.steal * 100, 2) } ?? "",
                r.interference.map { $0.isNoisy ? "yes" : "no" } ?? "", s.isOversubscribed(cpuCount: cpuCount) ? "yes" : "no",
                r.report.logTrace ?? "",
            ] + Self.failoverFields(r) + [s.key]
            lines.append(fields.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// latency.csv: the percentile curve of every row that has latencies.
    public func latencyCSV() -> String {
        var lines = [Self.latencyHeader.joined(separator: ",")]
        for (row, r) in results.enumerated() where r.latency.totalCount > 0 {
            for q in Self.curve {
                lines.append([String(row), Format.number(q), Format.micros(r.latency.valueAtPercentile(q)),
                              r.uncorrected.totalCount > 0 ? Format.micros(r.uncorrected.valueAtPercentile(q)) : ""].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// histograms.csv: every row's whole latency distribution, lossless at the histogram's
    /// precision (three significant digits): each non-empty bucket as its highest equivalent value
    /// in nanoseconds and its count, for the coordinated-omission-corrected latencies
    /// (`corrected` = yes) and the uncorrected ones. Recording each `value_ns` with its count into
    /// a histogram of the same precision rebuilds the row's histogram exactly, so spectra can be
    /// drawn from it and repeats merged by adding counts.
    public func histogramsCSV() -> String {
        var lines = [Self.histogramsHeader.joined(separator: ",")]
        for (row, r) in results.enumerated() {
            for (corrected, histogram) in [("yes", r.latency), ("no", r.uncorrected)] where histogram.totalCount > 0 {
                for bucket in histogram.recordedValues() {
                    lines.append("\(row),\(corrected),\(bucket.value),\(bucket.count)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// summary.csv: per scenario and metric, the median over the repeats with its interval
    /// (see `MedianInterval`). The FT ratio's values are paired per round (each FT-on run over
    /// its FT-off twin of the same round), and so are the free ratio's.
    public func summaryCSV() -> String {
        var lines = [Self.summaryHeader.joined(separator: ",")]
        for group in groups() {
            let first = group[0].scenario, o = first.options
            let ok = group.filter { $0.status == .ok }
            var metrics: [(String, [Double])] = []
            if first.rate != nil {
                metrics.append(("achieved_rps", ok.map(\.achievedRate)))
                for (name, q) in [("p50_us", 50.0), ("p99_us", 99.0)] {
                    metrics.append((name, ok.filter { $0.latency.totalCount > 0 }.map { Double($0.latency.valueAtPercentile(q)) / 1e3 }))
                }
            }
            metrics.append(("guest_mips", ok.map(\.report.guestMIPS)))
            if o.faultTolerance {
                metrics.append(("ft_ratio", ok.compactMap(\.ftRatio)))
                metrics.append(("core_ratio", ok.compactMap(\.report.coreRatio)))
                metrics.append(("ft_ratio_per_core", ok.compactMap(\.ftRatioPerCore)))
                metrics.append(("primary_speed_ratio", ok.compactMap(\.primarySpeedRatio)))
            }
            metrics.append(("work_s", ok.compactMap { $0.report.workNanos.map { Double($0) / 1e9 } }))
            metrics.append(("free_ratio", ok.compactMap(\.freeRatio)))
            for (metric, values) in metrics {
                guard let interval = MedianInterval(values) else { continue }
                let half = interval.relativeHalfWidth
                let wide = metric == "ft_ratio" || metric == "ft_ratio_per_core" ? ((half ?? 1) > Self.ratioHalfWidthTarget || interval.coverage < 0.95 ? "yes" : "no") : ""
                let fields = [
                    first.key, first.workload, o.faultTolerance ? "on" : "off", o.faultTolerance ? o.profile.name : "",
                    o.faultTolerance ? o.ackPolicy.description : "", first.rate.map(Format.number) ?? "", String(first.vcpus),
                    metric, String(interval.count), Format.significant(interval.median), Format.significant(interval.low),
                    Format.significant(interval.high), Format.fixed(interval.coverage, 4),
                    half.map { Format.fixed($0 * 100, 2) } ?? "", wide,
                ]
                lines.append(fields.map(Self.csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Results grouped by scenario (every round of one scenario), in first-seen order.
    public func groups() -> [[ScenarioResult]] {
        var order: [String] = []
        var byKey: [String: [ScenarioResult]] = [:]
        for r in results {
            if byKey[r.scenario.key] == nil { order.append(r.scenario.key) }
            byKey[r.scenario.key, default: []].append(r)
        }
        return order.map { byKey[$0]! }
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    // MARK: Writing

    /// Writes the set into a new folder `<directory>/<name>-<UTC timestamp>` (with `-2`, `-3`...
    /// if taken, and `-incomplete` for an interrupted run) and returns its path. `finish` is
    /// called with the `.partial` folder once the data files are in it, to add files made from
    /// them (charts, the report) before the folder takes its final name.
    public func write(into directory: String, name: String, extraFiles: [(String, Data)] = [],
                      finish: ((String) throws -> Void)? = nil) throws -> String {
        try Self.checkWritable(directory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let files: [(String, Data)] = [
            ("runs.csv", Data(runsCSV().utf8)), ("latency.csv", Data(latencyCSV().utf8)),
            ("histograms.csv", Data(histogramsCSV().utf8)), ("summary.csv", Data(summaryCSV().utf8)), ("faults.csv", Data(faultsCSV().utf8)),
            ("timeline.csv", Data(timelineCSV().utf8)), ("meta.json", try encoder.encode(meta)),
        ] + extraFiles
        let base = "\(directory)/\(name)-\(Self.timestamp(Date(), compact: true))" + (meta.complete ? "" : "-incomplete")
        for attempt in 1...1_000 {
            let final = attempt == 1 ? base : "\(base)-\(attempt)"
            let partial = final + ".partial"
            guard access(final, F_OK) != 0 else { continue }
            guard mkdir(partial, 0o755) == 0 else {
                if errno == EEXIST { continue }
                throw ResultSetError("cannot create \(partial): \(Self.errnoText())")
            }
            for (file, data) in files { try Self.writeNew(data, to: "\(partial)/\(file)") }
            try finish?(partial)
            let error = ftb_rename_noreplace(partial, final)
            if error == 0 { return final }
            guard error == EEXIST || error == ENOTEMPTY else {
                throw ResultSetError("cannot rename \(partial) to \(final): \(String(cString: strerror(error)))")
            }
            // Taken between the check and the rename: move on to the next name.
            Self.removeTree(partial)
        }
        throw ResultSetError("cannot find a free name for the result set \(base) (1,000 taken)")
    }

    /// Creates `path` (which must not exist, and is never a followed link) and writes `data`.
    public static func writeNew(_ data: Data, to path: String) throws {
        let fd = try createExclusively(path)
        defer { close(fd) }
        if let error = data.withUnsafeBytes({ writeAll(fd, $0) }) {
            throw ResultSetError("cannot write \(path): \(String(cString: strerror(error)))")
        }
        guard fsync(fd) == 0 else { throw ResultSetError("cannot write \(path): \(Self.errnoText())") }
    }

    /// Checks that `directory` can be created and written, before a long run.
    public static func checkWritable(_ directory: String) throws {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") where component != "." {
            path += "/" + component
            if mkdir(path, 0o755) != 0, errno != EEXIST {
                throw ResultSetError("cannot create output directory \(directory): \(errnoText())")
            }
        }
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ResultSetError("cannot create output directory \(directory): \(directory) is not a directory")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw ResultSetError("output directory \(directory) is not writable")
        }
    }

    /// Removes a folder this process made, with the files and folders in it (no links followed).
    static func removeTree(_ path: String) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for entry in entries {
                let child = "\(path)/\(entry)"
                var info = stat()
                if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { removeTree(child) } else { unlink(child) }
            }
        }
        rmdir(path)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

public struct ResultSetError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
