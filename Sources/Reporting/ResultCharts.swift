import Foundation
import Harness

/// One chart of a result set: its file under `charts/` and the plot.
public struct Chart: Sendable {
    public var file: String
    public var plot: Plot
    /// What the chart is drawn from, for the report.
    public var source: String
}

/// The charts a result set supports, each drawn only when the set holds its data:
/// latency against offered load, throughput and p99 against the channel's round trip, the
/// latency percentile spectrum, the ACK policy trade-off and the failover timeline.
public enum ResultCharts {
    public static func all(_ set: StoredResultSet) -> [Chart] {
        let scenarios = set.scenarios
        return latencyAgainstLoad(scenarios) + againstRoundTrip(scenarios) + spectra(set, scenarios) + ackTradeOff(scenarios)
            + failoverTimelines(set, scenarios)
    }

    /// Scenarios without faults, grouped by `key` in first-seen order.
    static func grouped(_ scenarios: [StoredScenario], by key: (StoredScenario) -> String?) -> [(String, [StoredScenario])] {
        var order: [String] = [], groups: [String: [StoredScenario]] = [:]
        for s in scenarios where s.cell("faults").isEmpty {
            guard let k = key(s) else { continue }
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(s)
        }
        return order.map { ($0, groups[$0]!) }
    }

    static func point(_ s: StoredScenario, x: Double, _ column: String, scale: Double = 1, label: String? = nil) -> Plot.Point? {
        guard let i = s.interval(column) else { return nil }
        return Plot.Point(x: x, y: i.median * scale, low: i.count > 1 ? i.low * scale : nil, high: i.count > 1 ? i.high * scale : nil,
                          flagged: s.flagged, label: label)
    }

    static func curveName(_ s: StoredScenario) -> String {
        s.ft ? "FT on, \(s.profile)" + (s.ack == Scenario.defaultAckPolicy ? "" : ", \(s.ack)") : "FT off"
    }

    /// `kvstore-20000`, with the interleaving when it is not the default round robin.
    static func fileName(_ s: StoredScenario, rate: Bool = true) -> String {
        let interleaving = s.cell("interleaving")
        var parts = [s.workload]
        if rate, let offered = s.offered { parts.append(Format.number(offered)) }
        if !interleaving.hasPrefix("round-robin") { parts.append(interleaving) }
        return String(parts.joined(separator: "-").lowercased().map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "-" })
    }

    // MARK: Latency against offered load

    static func latencyAgainstLoad(_ scenarios: [StoredScenario]) -> [Chart] {
        let open = scenarios.filter { $0.offered != nil && !$0.cell("arrivals").hasPrefix("closed") }
        return grouped(open) { "\($0.workload)|\($0.cell("interleaving"))" }.compactMap { _, members in
            let workload = members[0].workload
            let curves = Dictionary(grouping: members, by: curveName)
            guard curves.values.contains(where: { Set($0.compactMap(\.offered)).count > 1 }) else { return nil }
            var plot = Plot(title: "\(workload): response latency against offered load", x: Plot.Axis("offered load (requests/s)", log: true),
                            y: Plot.Axis("response latency (µs)", log: true))
            plot.note = "p99 solid, p50 dashed; 'saturated': achieved below 90% of offered"
            for (c, name) in members.map(curveName).uniqued().enumerated() {
                let curve = curves[name]!.sorted { $0.offered! < $1.offered! }
                let saturation = curve.first { s in (s.interval("achieved_rps")?.median ?? .infinity) < 0.9 * s.offered! }
                plot.series.append(Plot.Series(name: "\(name) p99", points: curve.compactMap {
                    point($0, x: $0.offered!, "p99_us", label: $0.key == saturation?.key ? "saturated" : nil)
                }, color: c))
                plot.series.append(Plot.Series(name: "\(name) p50", points: curve.compactMap { point($0, x: $0.offered!, "p50_us") }, dashed: true, color: c))
            }
            return plot.hasData ? Chart(file: "load-latency-\(fileName(members[0], rate: false)).svg", plot: plot, source: "runs.csv p50_us, p99_us, achieved_rps") : nil
        }
    }

    // MARK: Against the channel's round trip

    static func againstRoundTrip(_ scenarios: [StoredScenario]) -> [Chart] {
        grouped(scenarios) { s in "\(s.workload)|\(s.cell("interleaving"))" }.flatMap { _, members -> [Chart] in
            let ftOn = members.filter { $0.ft && $0.roundTripMicros > 0 }
            // One curve per offered load and ACK policy, across the profiles.
            let curveKey = { (s: StoredScenario) in "\(s.cell("offered_rps"))|\(s.ack)" }
            let curves = Dictionary(grouping: ftOn, by: curveKey)
            guard curves.values.contains(where: { Set($0.map(\.profile)).count > 1 }) else { return [] }
            let s0 = members[0]
            let acks = Set(ftOn.map(\.ack)).count > 1
            let xs = ftOn.map(\.roundTripMicros)
            var charts: [Chart] = []
            let measures: [(String, String, String)] = s0.offered != nil
                ? [("throughput", "achieved_rps", "achieved throughput (requests/s)"), ("p99", "p99_us", "p99 response latency (µs)")]
                : [("throughput", "guest_mips", "guest speed (MIPS)")]
            for (name, column, label) in measures {
                var plot = Plot(title: "\(s0.workload): \(name) against the channel's round trip",
                                x: Plot.Axis("channel round trip (µs)", log: true), y: Plot.Axis(label, log: column != "guest_mips"))
                plot.note = "FT on solid, FT off dashed (no channel: drawn flat); loopback (0 µs) is not on the log axis"
                for (c, key) in ftOn.map(curveKey).uniqued().enumerated() {
                    let curve = curves[key]!
                    let first = curve[0]
                    let load = first.offered.map { "\(Format.number($0))/s" } ?? "FT on"
                    let curveName = load + (acks ? ", \(first.ack)" : "")
                    plot.series.append(Plot.Series(name: curveName, points: curve.compactMap {
                        point($0, x: $0.roundTripMicros, column, label: $0.profile)
                    }, color: c))
                    if let baseline = members.first(where: { !$0.ft && $0.offered == first.offered }), let i = baseline.interval(column),
                       let lo = xs.min(), let hi = xs.max(), !plot.series.contains(where: { $0.name == "\(load), FT off" }) {
                        plot.series.append(Plot.Series(name: first.offered == nil ? "FT off" : "\(load), FT off", points: [lo, hi].map {
                            Plot.Point(x: $0, y: i.median, flagged: baseline.flagged)
                        }, dashed: true, color: c))
                    }
                }
                if plot.hasData { charts.append(Chart(file: "rtt-\(name)-\(fileName(s0, rate: false)).svg", plot: plot, source: "runs.csv \(column), one_way_us")) }
            }
            return charts
        }
    }

    // MARK: Percentile spectrum

    /// Percentiles drawn on the spectrum: HdrHistogram's, halving the distance to 100% each step.
    static let spectrumPercentiles: [Double] = [0, 25, 50, 75, 87.5, 90, 93.75, 96.875, 99, 99.2188, 99.6094, 99.8047, 99.9, 99.9512, 99.99]

    static func spectra(_ set: StoredResultSet, _ scenarios: [StoredScenario]) -> [Chart] {
        grouped(scenarios.filter { !$0.okRows.filter { set.histograms[$0] != nil }.isEmpty }) { s in
            s.ack == Scenario.defaultAckPolicy || !s.ft ? "\(s.workload)|\(s.cell("offered_rps"))|\(s.cell("interleaving"))" : nil
        }.compactMap { _, members in
            let s0 = members[0]
            var plot = Plot(title: "\(s0.workload)\(s0.offered.map { " at \(Format.number($0)) requests/s" } ?? ""): latency percentile spectrum",
                            x: Plot.Axis("percentile", log: true), y: Plot.Axis("response latency (µs)", log: true))
            plot.x.ticks = [(1, "0%"), (10, "90%"), (100, "99%"), (1_000, "99.9%"), (10_000, "99.99%")]
            plot.x.range = 1...10_000
            plot.note = "every round's histogram merged; x is 1/(1-p), as HdrHistogram plots it"
            for s in members.sorted(by: { ($0.ft ? 1 : 0, $0.roundTripMicros) < ($1.ft ? 1 : 0, $1.roundTripMicros) }) {
                let merged = Self.merge(s.okRows.compactMap { set.histograms[$0] })
                guard !merged.isEmpty else { continue }
                let points = spectrumPercentiles.map { p in
                    Plot.Point(x: 1 / (1 - p / 100), y: Double(Self.valueAt(p, merged)) / 1e3, flagged: s.flagged)
                }
                plot.series.append(Plot.Series(name: curveName(s), points: points, dashed: !s.ft))
            }
            return plot.series.count > 1 ? Chart(file: "spectrum-\(fileName(s0)).svg", plot: plot, source: "histograms.csv") : nil
        }
    }

    /// Buckets of several histograms added together, by value.
    static func merge(_ histograms: [[(value: UInt64, count: UInt64)]]) -> [(value: UInt64, count: UInt64)] {
        var counts: [UInt64: UInt64] = [:]
        for h in histograms { for b in h { counts[b.value, default: 0] += b.count } }
        return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The value at percentile `p` of sorted buckets: the first whose cumulative count reaches
    /// p% of the total (HdrHistogram's definition).
    static func valueAt(_ p: Double, _ buckets: [(value: UInt64, count: UInt64)]) -> UInt64 {
        let total = buckets.reduce(0) { $0 + $1.count }
        let target = max(1, UInt64((p / 100 * Double(total)).rounded(.up)))
        var running: UInt64 = 0
        for b in buckets {
            running += b.count
            if running >= target { return b.value }
        }
        return buckets.last?.value ?? 0
    }

    // MARK: ACK policy trade-off

    static func ackTradeOff(_ scenarios: [StoredScenario]) -> [Chart] {
        grouped(scenarios) { s in "\(s.workload)|\(s.cell("offered_rps"))|\(s.cell("interleaving"))" }.compactMap { _, members in
            let ftOn = members.filter(\.ft)
            let byProfile = Dictionary(grouping: ftOn, by: \.profile)
            guard byProfile.values.contains(where: { Set($0.map(\.ack)).count > 1 }) else { return nil }
            let baseline = members.first { !$0.ft }?.interval("p99_us")?.median
            let s0 = members[0]
            var plot = Plot(title: "\(s0.workload)\(s0.offered.map { " at \(Format.number($0)) requests/s" } ?? ""): ACK policy trade-off",
                            x: Plot.Axis("ACKs per second", log: true),
                            y: Plot.Axis(baseline != nil ? "p99 latency added by FT (µs)" : "p99 response latency (µs)", fromZero: false))
            plot.note = baseline != nil ? "added latency: p99 with FT on minus p99 with FT off (\(Format.fixed(baseline!, 0)) µs)" : "no FT-off row in this set: p99 itself"
            for profile in ftOn.map(\.profile).uniqued() {
                let points = byProfile[profile]!.compactMap { s -> Plot.Point? in
                    guard let acks = s.interval("acks_per_s")?.median, let p99 = s.interval("p99_us") else { return nil }
                    let b = baseline ?? 0
                    return Plot.Point(x: acks, y: p99.median - b, low: p99.count > 1 ? p99.low - b : nil, high: p99.count > 1 ? p99.high - b : nil,
                                      flagged: s.flagged, label: s.ack)
                }
                plot.series.append(Plot.Series(name: profile, points: points, connected: false))
            }
            return plot.hasData ? Chart(file: "ack-tradeoff-\(fileName(s0)).svg", plot: plot, source: "runs.csv acks_per_s, p99_us") : nil
        }
    }

    // MARK: Failover timeline

    static func failoverTimelines(_ set: StoredResultSet, _ scenarios: [StoredScenario]) -> [Chart] {
        var charts: [Chart] = []
        var rowsOfTimeline: [Int: [Int]] = [:]
        for i in set.timeline.rows.indices { if let row = Int(set.timeline.cell(i, "row")) { rowsOfTimeline[row, default: []].append(i) } }
        var n = 0
        for s in scenarios where !s.cell("faults").isEmpty {
            // The first completed round with a timeline: one run's events, not an average that
            // would smear faults drawn at different times.
            guard let row = s.okRows.first(where: { rowsOfTimeline[$0] != nil }), let lines = rowsOfTimeline[row] else { continue }
            n += 1
            var markers: [Plot.Marker] = []
            for f in set.faults.rows.indices where set.faults.cell(f, "row") == String(row) {
                if let t = set.faults.number(f, "injected_ms") { markers.append(Plot.Marker(x: t, label: set.faults.cell(f, "spec"), color: "#D55E00")) }
                if let t = set.faults.number(f, "live_ms") {
                    markers.append(Plot.Marker(x: t, label: "go-live (\(set.faults.cell(f, "new_owner")), epoch \(set.faults.cell(f, "epoch")))", color: "#009E73"))
                }
            }
            let round = set.runs.cell(row, "round")
            for (name, column, label, log) in [("throughput", "throughput_rps", "replies per second (10 ms buckets)", false),
                                               ("p99", "p99_us", "p99 response latency per 10 ms (µs)", true)] {
                var plot = Plot(title: "\(s.workload), \(s.faultKinds): \(name) per 10 ms (round \(Int(round).map { $0 + 1 } ?? 0))",
                                x: Plot.Axis("time since the run started (ms)"), y: Plot.Axis(label, log: log))
                plot.note = "the warm-up is included; dotted lines: fault injected, new primary live"
                plot.markers = markers
                let points = lines.compactMap { i -> Plot.Point? in
                    guard let t = set.timeline.number(i, "t_ms"), let v = set.timeline.number(i, column) else { return nil }
                    return Plot.Point(x: t, y: v, flagged: s.flagged)
                }
                plot.series = [Plot.Series(name: s.profile.isEmpty ? "replies" : "FT on, \(s.profile)", points: points)]
                if plot.hasData { charts.append(Chart(file: "timeline-\(n)-\(name).svg", plot: plot, source: "timeline.csv, faults.csv")) }
            }
        }
        return charts
    }
}

extension Array where Element: Hashable {
    /// The elements in first-seen order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
