import Replication

/// faults.csv and timeline.csv: what failures did to each FT row (columns in results/README.md).
extension ResultSet {
    public static let faultsHeader = [
        "row", "fault", "kind", "spec", "injected_ms", "detected_ms", "live_ms", "detection_ms", "go_live_ms", "outage_ms",
        "detected_by", "new_owner", "epoch", "outputs_resent", "outputs_lost", "requests_unanswered",
        "duplicates_dropped", "duplicates_to_app", "transfer_to", "transfer_ms", "transfer_bytes", "bytes_resent", "precopy_rounds",
        "final_pages", "pause_ms", "unprotected_ms",
    ]
    public static let timelineHeader = ["row", "t_ms", "replies", "throughput_rps", "p50_us", "p99_us", "log_mbit_per_s", "epoch"]

    /// One row per injected fault, and one per failure detection no fault explains.
    public func faultsCSV() -> String {
        var lines = [Self.faultsHeader.joined(separator: ",")]
        for (row, r) in results.enumerated() {
            guard let f = r.report.failover else { continue }
            for record in FaultRecord.all(in: f) {
                let ms = { (t: UInt64?) in t.map { Format.fixed(Double($0 > f.runStart ? $0 - f.runStart : 0) / 1e6, 3) } ?? "" }
                let span = { (a: UInt64?, b: UInt64?) -> String in
                    guard let a, let b, b >= a else { return "" }
                    return Format.fixed(Double(b - a) / 1e6, 3)
                }
                let outage = record.injected.flatMap { f.outage(around: $0) }
                let end = f.runStart + r.scenario.options.durationNanos
                let detectedAt: UInt64? = record.detected?.at
                let liveAt: UInt64? = record.live?.at
                var fields: [String] = [String(row), record.index.map(String.init) ?? "", record.kind, record.spec]
                fields += [ms(record.injected), ms(detectedAt), ms(liveAt), span(record.injected, detectedAt), span(detectedAt, liveAt)]
                fields.append(outage.map { Format.fixed(Double($0.to - $0.from) / 1e6, 3) } ?? "")
                fields.append(record.detected.map { "\($0.side)" } ?? "")
                fields.append(record.live.map { "\($0.side)" } ?? "")
                fields.append(record.live.map { String($0.epoch) } ?? "")
                fields += [String(f.outputsResent), String(f.outputsLost), String(f.requestsUnanswered), String(f.duplicatesDropped)]
                fields.append(String(r.duplicateReplies))
                // The state transfer that restored redundancy after this fault's go-live.
                let transfer = liveAt.flatMap { live in f.transfers.first { $0.startedAt >= live && $0.resumedAt != nil } }
                fields.append(transfer.map { "\($0.to)" } ?? "")
                fields.append(span(transfer?.startedAt, transfer?.resumedAt))
                fields += [transfer.map { String($0.bytes) } ?? "", transfer.map { String($0.bytesResent) } ?? ""]
                fields += [transfer.map { String($0.rounds) } ?? "", transfer.map { String($0.finalPages) } ?? ""]
                fields.append(span(transfer?.pausedAt, transfer?.resumedAt))
                fields.append(record.live == nil ? "" : span(record.injected ?? detectedAt, transfer?.resumedAt ?? end))
                lines.append(fields.map(Self.csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// runs.csv's failover columns (empty with FT off).
    static func failoverFields(_ r: ScenarioResult) -> [String] {
        guard let f = r.report.failover else { return Array(repeating: "", count: 10) }
        return [
            f.faults.map(\.description).joined(separator: " "), Format.micros(f.heartbeatNanos), Format.micros(f.failureTimeoutNanos),
            String(f.events.filter { $0.kind == .live }.count), String(f.finalEpoch),
            f.epochsWithTwoOwners.map(String.init).joined(separator: " "), String(f.outputsLost), String(f.requestsUnanswered),
            String(f.duplicatesDropped), String(f.retransmissions),
        ]
    }

    /// Per FT row and timeline bucket (10 ms): replies, latency, log bandwidth, owner epoch.
    public func timelineCSV() -> String {
        var lines = [Self.timelineHeader.joined(separator: ",")]
        for (row, r) in results.enumerated() {
            guard let t = r.report.failover?.timeline else { continue }
            let seconds = Double(t.bucketNanos) / 1e9
            for b in 0..<t.bucketCount {
                let fields = [
                    String(row), Format.fixed(Double(UInt64(b) * t.bucketNanos) / 1e6, 0), String(t.replies[b]),
                    Format.fixed(Double(t.replies[b]) / seconds, 0), t.percentile(50, bucket: b).map(Format.micros) ?? "",
                    t.percentile(99, bucket: b).map(Format.micros) ?? "", Format.fixed(Double(t.logBytes[b]) * 8 / seconds / 1e6, 3),
                    t.epochs[b] == 0 ? "" : String(t.epochs[b]),
                ]
                lines.append(fields.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A fault matched with the detection and go-live that followed it.
struct FaultRecord {
    var index: Int?
    var kind: String
    var spec: String
    var injected: UInt64?
    var detected: RoleEvent?
    var live: RoleEvent?

    /// Each fault's record: the first detection after it struck (by a side that did not crash),
    /// then the first go-live after that; then detections no fault explains (a detection within a
    /// window fault, or within two failure timeouts after it, is that fault's).
    static func all(in f: FailoverReport) -> [FaultRecord] {
        var records: [FaultRecord] = []
        var explained = Set<Int>()
        let detections = f.events.indices.filter { f.events[$0].kind == .detected }
        for (i, fault) in f.faults.enumerated() {
            var record = FaultRecord(index: i, kind: fault.kind, spec: fault.description, injected: f.faultTimes[i])
            if let t = record.injected {
                let crashed = f.events.first { $0.kind == .crashed && $0.at == t }?.side
                let until = fault.duration.map { t + $0 + 2 * f.failureTimeoutNanos } ?? .max
                let mine = detections.filter { f.events[$0].at >= t && f.events[$0].at <= until && f.events[$0].side != crashed && !explained.contains($0) }
                if let first = mine.first {
                    record.detected = f.events[first]
                    record.live = f.events.first { $0.kind == .live && $0.at >= f.events[first].at }
                    explained.formUnion(fault.duration == nil ? [first] : mine)
                }
            }
            records.append(record)
        }
        for i in detections where !explained.contains(i) {
            let event = f.events[i]
            records.append(FaultRecord(index: nil, kind: "unexplained-detection", spec: "", injected: nil, detected: event,
                                       live: f.events.first { $0.kind == .live && $0.at >= event.at }))
        }
        return records
    }
}
