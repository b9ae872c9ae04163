import Foundation
import Harness

/// A result set read back from its folder: meta.json and the CSV files, checked to be a set this
/// ftbench wrote (its schema version, the runs.csv columns), so that charts, the report and
/// comparisons never take a file from elsewhere, or of another schema, for one of ours.
public struct StoredResultSet: Sendable {
    public var path: String
    public var meta: ResultSet.Meta
    public var runs: CSVTable
    public var summary: CSVTable
    public var faults: CSVTable
    public var timeline: CSVTable
    /// Per runs.csv row, the corrected latency distribution (`histograms.csv`): value in ns and count.
    public var histograms: [Int: [(value: UInt64, count: UInt64)]]

    public init(path: String) throws(ReportError) {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError("\(path): not a result set folder")
        }
        let metaPath = "\(path)/meta.json"
        guard let metaData = FileManager.default.contents(atPath: metaPath) else {
            throw ReportError("\(metaPath): missing or unreadable: not a result set")
        }
        guard let object = try? JSONSerialization.jsonObject(with: metaData) as? [String: Any], let version = object["schema_version"] as? Int else {
            throw ReportError("\(metaPath): not an ftbench meta.json (no schema_version)")
        }
        guard version == ResultSet.schemaVersion else {
            throw ReportError("\(metaPath): schema version \(version); this ftbench reads version \(ResultSet.schemaVersion) (rerun the set with this build)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { meta = try decoder.decode(ResultSet.Meta.self, from: metaData) } catch {
            throw ReportError("\(metaPath): does not decode as schema \(version): \(Self.describe(error))")
        }
        runs = try Self.table(path, "runs.csv", header: ResultSet.runsHeader)
        summary = try Self.table(path, "summary.csv", header: ResultSet.summaryHeader)
        faults = try Self.table(path, "faults.csv", header: ResultSet.faultsHeader)
        timeline = try Self.table(path, "timeline.csv", header: ResultSet.timelineHeader)
        let stored = try Self.table(path, "histograms.csv", header: ResultSet.histogramsHeader)
        histograms = [:]
        for i in stored.rows.indices where stored.cell(i, "corrected") == "yes" {
            guard let row = Int(stored.cell(i, "row")), let value = UInt64(stored.cell(i, "value_ns")),
                  let count = UInt64(stored.cell(i, "count")), row >= 0, row < runs.rows.count else {
                throw ReportError("\(path)/histograms.csv:\(i + 2): not a row of runs.csv with a value and a count")
            }
            histograms[row, default: []].append((value, count))
        }
        guard runs.rows.count == meta.scenariosRun else {
            throw ReportError("\(path)/runs.csv: \(runs.rows.count) rows, but meta.json says \(meta.scenariosRun) scenario runs")
        }
    }

    static func table(_ folder: String, _ file: String, header: [String]) throws(ReportError) -> CSVTable {
        let path = "\(folder)/\(file)"
        guard let data = FileManager.default.contents(atPath: path) else { throw ReportError("\(path): missing or unreadable") }
        guard let text = String(data: data, encoding: .utf8) else { throw ReportError("\(path): not UTF-8 text") }
        let table = try CSVTable(text: text, file: path)
        guard table.columns == header else {
            let missing = header.filter { !table.columns.contains($0) }
            throw ReportError("\(path): columns differ from schema \(ResultSet.schemaVersion)" + (missing.isEmpty ? "" : " (missing \(missing.prefix(3).joined(separator: ", ")))"))
        }
        return table
    }

    static func describe(_ error: Error) -> String {
        if case DecodingError.keyNotFound(let key, _) = error { return "no \(key.stringValue)" }
        if case DecodingError.typeMismatch(_, let context) = error { return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))" }
        return "\(error)"
    }

    /// The scenarios of the set: runs.csv rows grouped by their `scenario` column, in first-seen order.
    public var scenarios: [StoredScenario] {
        var order: [String] = []
        var rows: [String: [Int]] = [:]
        for i in runs.rows.indices {
            let key = runs.cell(i, "scenario")
            if rows[key] == nil { order.append(key) }
            rows[key, default: []].append(i)
        }
        return order.map { StoredScenario(set: self, key: $0, rows: rows[$0]!) }
    }
}

/// One scenario of a stored set: its runs.csv rows (one per round).
public struct StoredScenario: Sendable {
    public var set: StoredResultSet
    public var key: String
    public var rows: [Int]

    func cell(_ column: String) -> String { set.runs.cell(rows[0], column) }
    public var workload: String { cell("workload") }
    public var ft: Bool { cell("ft") == "on" }
    public var profile: String { cell("channel_profile") }
    public var ack: String { cell("ack_policy") }
    public var offered: Double? { Double(cell("offered_rps")) }
    /// The kinds of the faults injected (`primary-crash partition`): runs.csv holds each round's
    /// drawn times, which differ between rounds of one scenario.
    public var faultKinds: String {
        cell("faults").split(separator: " ").map { $0.split(separator: "@").first.map(String.init) ?? "" }.joined(separator: " ")
    }
    /// Round trip of the channel in µs (0 with FT off).
    public var roundTripMicros: Double { (Double(cell("one_way_us")) ?? 0) * 2 }
    /// The rows that completed (status ok).
    public var okRows: [Int] { rows.filter { set.runs.cell($0, "status") == "ok" } }
    /// Some round's host was noisy, or the scenario ran more spinning threads than CPUs.
    public var flagged: Bool { rows.contains { set.runs.cell($0, "noisy") == "yes" || set.runs.cell($0, "oversubscribed") == "yes" } }

    /// A metric's values over the completed rounds.
    public func values(_ column: String) -> [Double] { okRows.compactMap { set.runs.number($0, column) } }

    /// A metric's median over the completed rounds, with its 95% interval.
    public func interval(_ column: String) -> MedianInterval? { MedianInterval(values(column)) }

    /// `kvstore FT lan output-aware 10000/s`.
    public var label: String {
        var parts = [workload, ft ? "FT \(profile)" : "FT off"]
        if ft, ack != Scenario.defaultAckPolicy { parts.append(ack) }
        if let offered { parts.append("\(Format.number(offered))/s") }
        let interleaving = cell("interleaving")
        if !interleaving.hasPrefix("round-robin") { parts.append(interleaving) }
        if !faultKinds.isEmpty { parts.append(faultKinds) }
        return parts.joined(separator: " ")
    }
}
