import Foundation
import LogChannel
import Topology

/// A result set: `runs.csv`, `latency.csv` and `meta.json` in `results/<name>-<UTC timestamp>/`.
/// Columns and units are documented in results/README.md.
///
/// Written atomically: the files go into `<folder>.partial/` (each through a temporary file and a
/// rename) and the folder is renamed to its final name only when all three are complete, so an
/// interrupted run never leaves a set that looks whole.
public struct ResultSet {
    public static let runsHeader = [
        "row", "workload", "channel_profile", "one_way_us", "bandwidth_mbit", "jitter", "ack_policy", "ft", "vcpus",
        "interleaving", "arrivals", "offered_rps", "achieved_rps", "ft_ratio", "guest_mips",
        "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "uncorrected_p50_us", "uncorrected_p99_us",
        "log_entries_per_s", "log_mbit_per_s", "acks_per_s", "outputs_held_p99", "primary_stall_pct",
        "backup_lag_p99_us", "divergences", "duplicate_replies", "requests_sent", "replies_measured", "window_s", "seed",
    ]
    public static let latencyHeader = ["row", "percentile", "latency_us", "uncorrected_us"]
    /// Percentiles of the latency curve in latency.csv.
    public static let curve: [Double] = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100]

    public var results: [ScenarioResult]
    public var meta: Meta

    public init(results: [ScenarioResult], meta: Meta) {
        self.results = results
        self.meta = meta
    }

    public struct Meta: Codable, Sendable {
        public var ftbenchVersion: String
        public var gitRevision: String
        public var commandLine: [String]
        public var createdUTC: String
        public var machine: Machine
        public var calibration: CalibrationFigures?

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
            public var interpreterNsPerInstruction: Double

            public init(_ c: Calibration) {
                floorRoundTripP50Ns = c.floor.p50
                floorRoundTripP99Ns = c.floor.p99
                channelRoundTrip8BP50Ns = c.roundTrip8.p50
                channelRoundTrip8BP99Ns = c.roundTrip8.p99
                channelRoundTrip64BP50Ns = c.roundTrip64.p50
                channelRoundTrip64BP99Ns = c.roundTrip64.p99
                throughputOneAtATimePerS = c.throughputOneAtATime
                throughputBatchedPerS = c.throughputBatched
                interpreterNsPerInstruction = c.interpreterNanosPerInstruction
            }
        }

        public init(commandLine: [String], calibration: Calibration?, allocator: String = "system malloc") {
            let host = HostTopology.current()
            ftbenchVersion = "0.1.0"
            gitRevision = Self.gitRevision()
            self.commandLine = commandLine
            createdUTC = ResultSet.timestamp(Date(), compact: false)
            machine = Machine(cpuModel: host.cpuModel, cpus: host.cpuCount, numaNodes: host.numaNodes, allocator: allocator)
            self.calibration = calibration.map(CalibrationFigures.init)
        }

        static func gitRevision() -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "rev-parse", "--short=12", "HEAD"]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return "unknown" }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return process.terminationStatus == 0 && !text.isEmpty ? text : "unknown"
        }
    }

    static func timestamp(_ date: Date, compact: Bool) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = compact ? "yyyyMMdd'T'HHmmss'Z'" : "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return formatter.string(from: date)
    }

    /// The rows of runs.csv, one per result.
    public func runsCSV() -> String {
        var lines = [Self.runsHeader.joined(separator: ",")]
        for (row, r) in results.enumerated() {
            let o = r.scenario.options
            let window = r.report.windowSeconds
            func us(_ h: Double) -> String { Format.fixed(h / 1_000, 1) }
            func p(_ q: Double) -> String { r.latency.totalCount > 0 ? us(Double(r.latency.valueAtPercentile(q))) : "" }
            func pu(_ q: Double) -> String { r.uncorrected.totalCount > 0 ? us(Double(r.uncorrected.valueAtPercentile(q))) : "" }
            let jitter: String
            switch o.profile.jitter {
            case .none: jitter = "none"
            case .uniform(let s): jitter = "uniform:\(s / 1_000)us"
            case .normal(let s): jitter = "normal:\(s / 1_000)us"
            case .exponential(let m): jitter = "exp:\(m / 1_000)us"
            }
            let fields: [String] = [
                String(row), r.scenario.workload, o.profile.name, Format.fixed(Double(o.profile.oneWayLatencyNanos) / 1_000, 1),
                o.profile.bandwidthBitsPerSecond.map { Format.fixed(Double($0) / 1e6, 0) } ?? "unlimited", jitter,
                o.faultTolerance ? o.ackPolicy.description : "", o.faultTolerance ? "on" : "off", String(r.scenario.vcpus),
                r.scenario.interleaving.description, r.scenario.rate == nil ? "" : r.scenario.arrivals.description,
                r.scenario.rate.map { Format.fixed($0, 0) } ?? "", Format.fixed(r.achievedRate, 1),
                r.ftRatio.map { Format.fixed($0, 4) } ?? "", Format.fixed(r.report.guestMIPS, 1),
                p(50), p(90), p(99), p(99.9), r.latency.totalCount > 0 ? us(Double(r.latency.max)) : "", pu(50), pu(99),
                Format.fixed(window > 0 ? Double(r.report.logEntries) / window : 0, 1),
                Format.fixed(window > 0 ? Double(r.report.logBytes) * 8 / window / 1e6 : 0, 3),
                Format.fixed(window > 0 ? Double(r.report.acksSent) / window : 0, 1),
                r.report.heldOutputsP99.map(String.init) ?? "", Format.fixed(r.report.primaryStallFraction * 100, 2),
                r.report.backupLagP99Micros.map(String.init) ?? "", String(r.divergences), String(r.duplicateReplies),
                String(r.report.requestsSent), String(r.latency.totalCount), Format.fixed(window, 3), String(o.seed),
            ]
            lines.append(fields.map(Self.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// latency.csv: the percentile curve of every row that has latencies.
    public func latencyCSV() -> String {
        var lines = [Self.latencyHeader.joined(separator: ",")]
        for (row, r) in results.enumerated() where r.latency.totalCount > 0 {
            for q in Self.curve {
                lines.append([String(row), Format.fixed(q, 2), Format.fixed(Double(r.latency.valueAtPercentile(q)) / 1_000, 1),
                              Format.fixed(Double(r.uncorrected.valueAtPercentile(q)) / 1_000, 1)].joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// Writes the set into a new folder `<directory>/<name>-<UTC timestamp>` and returns its path.
    public func write(into directory: String, name: String) throws -> String {
        let final = "\(directory)/\(name)-\(Self.timestamp(Date(), compact: true))"
        let partial = final + ".partial"
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: partial, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try Self.writeAtomically(Data(runsCSV().utf8), to: partial + "/runs.csv")
            try Self.writeAtomically(Data(latencyCSV().utf8), to: partial + "/latency.csv")
            try Self.writeAtomically(try encoder.encode(meta), to: partial + "/meta.json")
            try files.moveItem(atPath: partial, toPath: final)
        } catch {
            throw ResultSetError("cannot write results to \(final): \((error as NSError).localizedDescription)")
        }
        return final
    }

    /// Through a temporary file in the same folder and a rename.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        if rename(temporary, path) != 0 { throw ResultSetError("cannot rename \(temporary) to \(path)") }
    }

    /// Checks that `directory` can be created and written, before a long run.
    public static func checkWritable(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ResultSetError("cannot create output directory \(directory): \((error as NSError).localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw ResultSetError("output directory \(directory) is not writable")
        }
    }
}

public struct ResultSetError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
