import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Harness
@testable import Reporting
import Testing

@Suite("ResultCharts")
struct ResultChartsTests {
    /// A set with every kind of data the charts draw: loads, profiles, ACK policies, histograms
    /// and a fault with its timeline.
    static func fullSet() throws -> StoredResultSet {
        var s = SyntheticSet()
        func add(_ key: String, _ fields: [String: String], p99: Double) {
            var f = fields
            f["p50_us"] = Format.number(p99 / 3)
            f["acks_per_s"] = fields["ack_policy"] == "every" ? "20000" : "2000"
            s.scenario(key, f, "p99_us", [p99, p99 * 1.05, p99 * 0.95, p99 * 1.02])
        }
        for rate in [5000.0, 20000, 40000] {
            let r = Format.number(rate)
            let achieved = Format.number(rate == 40000 ? 30000 : rate)
            add("off|\(r)", ["workload": "kvstore", "ft": "off", "offered_rps": r, "achieved_rps": achieved, "interleaving": "round-robin/20000"], p99: 50)
            for (profile, oneWay) in [("lan", "45"), ("cross-city", "5000")] {
                add("\(profile)|\(r)", ["workload": "kvstore", "ft": "on", "channel_profile": profile, "one_way_us": oneWay, "offered_rps": r,
                                        "achieved_rps": achieved, "ack_policy": Scenario.defaultAckPolicy, "interleaving": "round-robin/20000"],
                    p99: 2 * (Double(oneWay) ?? 0) + 100)
            }
            add("lan-every|\(r)", ["workload": "kvstore", "ft": "on", "channel_profile": "lan", "one_way_us": "45", "offered_rps": r,
                                   "achieved_rps": achieved, "ack_policy": "every", "interleaving": "round-robin/20000", "noisy": "yes"], p99: 300)
        }
        for row in s.rows.indices where s.rows[row]["offered_rps"] == "5000" {
            for (v, c) in [(10_000, 50), (50_000, 40), (200_000, 9), (900_000, 1)] as [(UInt64, UInt64)] {
                s.histograms.append((row, v * UInt64(row + 1), c))
            }
        }
        let crashRow = s.rows.count
        s.scenario("crash", ["workload": "kvstore", "ft": "on", "channel_profile": "lan", "one_way_us": "45", "offered_rps": "10000",
                             "faults": "primary-crash@900ms", "interleaving": "round-robin/20000"], "p99_us", [50_000])
        for t in stride(from: 0, to: 2000, by: 10) {
            s.timeline.append(["row": String(crashRow), "t_ms": String(t), "replies": "100", "throughput_rps": t >= 900 && t < 950 ? "0" : "10000",
                               "p99_us": "150", "epoch": t < 950 ? "1" : "2"])
        }
        s.faults.append(["row": String(crashRow), "fault": "0", "kind": "primary-crash", "spec": "primary-crash@900ms", "injected_ms": "900",
                         "live_ms": "951.5", "new_owner": "B", "epoch": "2"])
        return try StoredResultSet(path: s.write())
    }

    /// The elements, attributes and text of an SVG, parsed as XML (a parse error fails the test).
    final class SVGContent: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var seriesNames: [String] = []
        var texts: [String] = []
        var text = ""
        var error: Error?

        init(_ svg: String) {
            super.init()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = self
            if !parser.parse() { error = parser.parserError ?? ReportError("unparsable") }
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            elements[name, default: 0] += 1
            text = ""
            if name == "g", attributes["class"] == "series", let n = attributes["data-name"] { seriesNames.append(n) }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !t.isEmpty { texts.append(t) }
            text = ""
        }
    }

    @Test("every chart kind is drawn from a set that holds its data, as well-formed SVG with axes, ticks and series")
    func allKinds() throws {
        let charts = ResultCharts.all(try Self.fullSet())
        let files = charts.map(\.file)
        for prefix in ["load-latency-", "rtt-throughput-", "rtt-p99-", "spectrum-", "ack-tradeoff-", "timeline-1-throughput", "timeline-1-p99"] {
            #expect(files.contains { $0.hasPrefix(prefix) }, "no \(prefix) chart in \(files)")
        }
        for chart in charts {
            let svg = SVGContent(chart.plot.svg())
            #expect(svg.error == nil, "\(chart.file): \(String(describing: svg.error))")
            #expect(!chart.plot.x.label.isEmpty && !chart.plot.y.label.isEmpty)
            #expect(svg.texts.contains { $0.hasPrefix(chart.plot.x.label) } && svg.texts.contains { $0.hasPrefix(chart.plot.y.label) })
            #expect((svg.elements["line"] ?? 0) >= 4, "\(chart.file): tick lines")
            #expect(!svg.seriesNames.isEmpty && (svg.elements["circle"] ?? 0) > 0, "\(chart.file): points")
        }
    }

    @Test("latency against load: a p99 and a p50 curve per profile and FT off, saturation marked, noisy points hollow")
    func loadChart() throws {
        let chart = try #require(ResultCharts.all(try Self.fullSet()).first { $0.file.hasPrefix("load-latency-") })
        let names = chart.plot.series.map(\.name)
        for curve in ["FT off", "FT on, lan", "FT on, cross-city", "FT on, lan, every"] {
            #expect(names.contains("\(curve) p99") && names.contains("\(curve) p50"), "\(names)")
        }
        #expect(chart.plot.x.log && chart.plot.y.log)
        let lan = try #require(chart.plot.series.first { $0.name == "FT on, lan p99" })
        #expect(lan.points.count == 3)
        #expect(lan.points.first { $0.x == 40000 }?.label == "saturated", "30,000 of 40,000 achieved is below 90%")
        #expect(lan.points.allSatisfy { $0.low != nil && $0.high != nil }, "intervals from the four rounds")
        let every = try #require(chart.plot.series.first { $0.name == "FT on, lan, every p99" })
        #expect(every.points.allSatisfy { $0.flagged })
        #expect(chart.plot.svg().contains("noisy or oversubscribed"))
    }

    @Test("the spectrum merges every round's histogram and reaches 99.99% on a log axis of 1/(1-p)")
    func spectrum() throws {
        let chart = try #require(ResultCharts.all(try Self.fullSet()).first { $0.file == "spectrum-kvstore-5000.svg" })
        #expect(chart.plot.series.map(\.name) == ["FT off", "FT on, lan", "FT on, cross-city"])
        let xs = chart.plot.series[0].points.map(\.x)
        #expect(xs.first == 1 && abs(xs.last! - 10_000) < 1)
        // FT off rows 0, 4, 8, 12... carry buckets scaled by row + 1: the maximum of the merge is
        // the last round's 900 µs times its row + 1.
        #expect(chart.plot.series[0].points.last!.y > 900)
    }

    @Test("the failover timeline marks the fault and the go-live")
    func timeline() throws {
        let chart = try #require(ResultCharts.all(try Self.fullSet()).first { $0.file == "timeline-1-throughput.svg" })
        #expect(chart.plot.markers.map(\.x) == [900, 951.5])
        #expect(chart.plot.markers[1].label.contains("go-live"))
        #expect(chart.plot.series[0].points.count == 200)
    }

    @Test("the report holds every chart inline, the summary, the machine and the command")
    func report() throws {
        let set = try Self.fullSet()
        let charts = try Report.write(into: set.path)
        let html = try String(contentsOfFile: "\(set.path)/index.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<svg ").count - 1 == charts.count)
        #expect(html.contains("ftbench suite synthetic"))
        #expect(html.contains("<h2>Machine</h2>") && html.contains("<h2>Summary</h2>"))
        for chart in charts { #expect(FileManager.default.fileExists(atPath: "\(set.path)/charts/\(chart.file)")) }
    }
}
