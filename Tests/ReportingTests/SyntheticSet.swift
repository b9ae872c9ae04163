import Foundation
@testable import Harness
import TestScratch

/// A result set written from chosen figures, as `ResultSet.write` lays one out, for tests of
/// the reader, the charts and the comparison that need exact, known values.
struct SyntheticSet {
    /// One runs.csv row: column to value; the rest empty, `status` ok.
    var rows: [[String: String]] = []
    var timeline: [[String: String]] = []
    var faults: [[String: String]] = []
    var histograms: [(row: Int, value: UInt64, count: UInt64)] = []
    var complete = true
    var schemaVersion = ResultSet.schemaVersion

    /// Adds `values.count` rounds of one scenario, each round's `column` set from `values`.
    mutating func scenario(_ key: String, _ fields: [String: String], _ column: String, _ values: [Double]) {
        for (round, v) in values.enumerated() {
            var row = fields
            row["scenario"] = key
            row["round"] = String(round)
            row[column] = Format.number(v)
            rows.append(row)
        }
    }

    static func csv(_ header: [String], _ rows: [[String: String]]) -> String {
        ([header.joined(separator: ",")] + rows.map { row in header.map { ResultSet.csvField(row[$0] ?? "") }.joined(separator: ",") })
            .joined(separator: "\n") + "\n"
    }

    func write() throws -> String {
        let dir = Scratch.path("synthetic")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var meta = ResultSet.Meta(commandLine: ["ftbench", "suite", "synthetic"], calibration: nil, planned: rows.count, complete: complete)
        meta.scenariosRun = rows.count
        meta.schemaVersion = schemaVersion
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(meta).write(to: URL(fileURLWithPath: "\(dir)/meta.json"))
        let runs = rows.enumerated().map { i, r in r.merging(["row": String(i), "status": r["status"] ?? "ok"]) { a, _ in a } }
        let files: [(String, String)] = [
            ("runs.csv", Self.csv(ResultSet.runsHeader, runs)), ("summary.csv", Self.csv(ResultSet.summaryHeader, [])),
            ("latency.csv", Self.csv(ResultSet.latencyHeader, [])), ("timeline.csv", Self.csv(ResultSet.timelineHeader, timeline)),
            ("faults.csv", Self.csv(ResultSet.faultsHeader, faults)),
            ("histograms.csv", Self.csv(ResultSet.histogramsHeader, histograms.map {
                ["row": String($0.row), "corrected": "yes", "value_ns": String($0.value), "count": String($0.count)]
            })),
        ]
        for (name, text) in files { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
        return dir
    }
}
