import Foundation
import Harness

/// A line chart drawn as SVG by ftbench itself (no network, no script): labelled axes with
/// units, linear or logarithmic scales, series with error bars from intervals, hollow markers
/// for points whose runs were noisy or oversubscribed, vertical event markers, and a legend.
public struct Plot: Sendable {
    public var title: String
    public var x: Axis
    public var y: Axis
    public var series: [Series] = []
    public var markers: [Marker] = []
    /// A line under the title (what the chart shows, how to read it).
    public var note = ""

    public init(title: String, x: Axis, y: Axis) {
        self.title = title
        self.x = x
        self.y = y
    }

    public struct Axis: Sendable {
        public var label: String
        public var log = false
        /// Whether a linear axis starts at zero.
        public var fromZero = true
        /// Tick positions and labels that replace the computed ones.
        public var ticks: [(Double, String)]?
        /// A fixed range (in data units) that replaces the data's.
        public var range: ClosedRange<Double>?

        public init(_ label: String, log: Bool = false, fromZero: Bool = true) {
            self.label = label
            self.log = log
            self.fromZero = fromZero
        }
    }

    public struct Series: Sendable {
        public var name: String
        public var points: [Point]
        public var dashed = false
        public var connected = true
        /// The palette entry (default: the series' position), so that two series of one curve
        /// (its p50 and p99) share a colour.
        public var color: Int?

        public init(name: String, points: [Point], dashed: Bool = false, connected: Bool = true, color: Int? = nil) {
            self.name = name
            self.points = points
            self.dashed = dashed
            self.connected = connected
            self.color = color
        }
    }

    public struct Point: Sendable {
        public var x: Double
        public var y: Double
        public var low: Double?
        public var high: Double?
        /// Drawn hollow: some run behind it was noisy or oversubscribed.
        public var flagged = false
        /// Drawn beside the point.
        public var label: String?

        public init(x: Double, y: Double, low: Double? = nil, high: Double? = nil, flagged: Bool = false, label: String? = nil) {
            self.x = x
            self.y = y
            self.low = low
            self.high = high
            self.flagged = flagged
            self.label = label
        }
    }

    /// A vertical line at `x` with a label (a fault, a go-live, a saturation point).
    public struct Marker: Sendable {
        public var x: Double
        public var label: String
        public var color: String

        public init(x: Double, label: String, color: String = "#555") {
            self.x = x
            self.label = label
            self.color = color
        }
    }

    /// Okabe and Ito's palette, distinguishable with the common colour-vision deficiencies.
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"]

    public var hasData: Bool { series.contains { !$0.points.filter(usable).isEmpty } }

    func usable(_ p: Point) -> Bool {
        p.x.isFinite && p.y.isFinite && (!x.log || p.x > 0) && (!y.log || p.y > 0)
    }

    // MARK: Drawing

    static let width = 760.0, height = 440.0
    static let left = 78.0, right = 210.0, top = 52.0, bottom = 58.0

    public func svg() -> String {
        let w = Self.width, h = Self.height
        let plotW = w - Self.left - Self.right, plotH = h - Self.top - Self.bottom
        let points = series.flatMap { $0.points.filter(usable) }
        let xs = points.map(\.x) + markers.map(\.x)
        let ys = points.flatMap { [$0.y, $0.low ?? $0.y, $0.high ?? $0.y] }.filter { $0.isFinite && (!y.log || $0 > 0) }
        let xScale = Scale(axis: x, values: xs, pixels: plotW)
        let yScale = Scale(axis: y, values: ys, pixels: plotH)
        func px(_ v: Double) -> Double { Self.left + xScale.position(v) }
        func py(_ v: Double) -> Double { Self.top + plotH - yScale.position(v) }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" \
            font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="\(Self.escape(title))">
            <rect width="100%" height="100%" fill="#fff"/>
            <text x="\(Self.left)" y="20" font-size="15" font-weight="bold">\(Self.escape(title))</text>

            """
        if !note.isEmpty { out += "<text x=\"\(Self.left)\" y=\"38\" fill=\"#555\">\(Self.escape(note))</text>\n" }
        // Grid and ticks.
        for (v, label) in xScale.ticks {
            let p = Self.f(px(v))
            out += "<line x1=\"\(p)\" y1=\"\(Self.top)\" x2=\"\(p)\" y2=\"\(Self.top + plotH)\" stroke=\"#e5e5e5\"/>"
            out += "<text x=\"\(p)\" y=\"\(Self.f(Self.top + plotH + 16))\" text-anchor=\"middle\">\(Self.escape(label))</text>\n"
        }
        for (v, label) in yScale.ticks {
            let p = Self.f(py(v))
            out += "<line x1=\"\(Self.left)\" y1=\"\(p)\" x2=\"\(Self.left + plotW)\" y2=\"\(p)\" stroke=\"#e5e5e5\"/>"
            out += "<text x=\"\(Self.left - 6)\" y=\"\(p)\" dy=\"4\" text-anchor=\"end\">\(Self.escape(label))</text>\n"
        }
        out += "<rect x=\"\(Self.left)\" y=\"\(Self.top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text class=\"x-label\" x=\"\(Self.f(Self.left + plotW / 2))\" y=\"\(Self.f(h - 14))\" text-anchor=\"middle\">\(Self.escape(x.label + (x.log ? " (log scale)" : "")))</text>\n"
        let yMid = Self.f(Self.top + plotH / 2)
        out += "<text class=\"y-label\" x=\"18\" y=\"\(yMid)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(yMid))\">\(Self.escape(y.label + (y.log ? " (log scale)" : "")))</text>\n"
        // Markers.
        for (i, m) in markers.enumerated() {
            let p = Self.f(px(m.x))
            out += "<line class=\"marker\" x1=\"\(p)\" y1=\"\(Self.top)\" x2=\"\(p)\" y2=\"\(Self.top + plotH)\" stroke=\"\(m.color)\" stroke-dasharray=\"2 3\" stroke-width=\"1.5\"/>"
            out += "<text x=\"\(Self.f(px(m.x) + 4))\" y=\"\(Self.f(Self.top + 14 + Double(i % 3) * 14))\" fill=\"\(m.color)\" font-size=\"11\">\(Self.escape(m.label))</text>\n"
        }
        // Series.
        for (i, s) in series.enumerated() {
            let color = Self.palette[(s.color ?? i) % Self.palette.count]
            let pts = s.points.filter(usable).sorted { $0.x < $1.x }
            out += "<g class=\"series\" data-name=\"\(Self.escape(s.name))\">\n"
            if s.connected, pts.count > 1 {
                let path = pts.map { "\(Self.f(px($0.x))),\(Self.f(py($0.y)))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            }
            for p in pts {
                let cx = Self.f(px(p.x)), cy = Self.f(py(p.y))
                if let low = p.low, let high = p.high, low.isFinite, high.isFinite, !y.log || low > 0 {
                    let y1 = Self.f(py(low)), y2 = Self.f(py(high))
                    out += "<path d=\"M\(cx) \(y1)V\(y2)M\(Self.f(px(p.x) - 4)) \(y1)h8M\(Self.f(px(p.x) - 4)) \(y2)h8\" stroke=\"\(color)\" stroke-width=\"1.2\"/>"
                }
                out += "<circle cx=\"\(cx)\" cy=\"\(cy)\" r=\"3.5\" fill=\"\(p.flagged ? "#fff" : color)\" stroke=\"\(color)\" stroke-width=\"1.5\"/>"
                if let label = p.label {
                    out += "<text x=\"\(Self.f(px(p.x) + 6))\" y=\"\(Self.f(py(p.y) - 6))\" font-size=\"10\" fill=\"\(color)\">\(Self.escape(label))</text>"
                }
                out += "\n"
            }
            out += "</g>\n"
        }
        // Legend.
        let lx = Self.left + plotW + 14
        var ly = Self.top + 6
        out += "<g class=\"legend\">\n"
        for (i, s) in series.enumerated() {
            let color = Self.palette[(s.color ?? i) % Self.palette.count]
            out += "<line x1=\"\(Self.f(lx))\" y1=\"\(Self.f(ly))\" x2=\"\(Self.f(lx + 22))\" y2=\"\(Self.f(ly))\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            out += "<circle cx=\"\(Self.f(lx + 11))\" cy=\"\(Self.f(ly))\" r=\"3.5\" fill=\"\(color)\"/>"
            for (j, line) in Self.wrap(s.name, 26).enumerated() {
                out += "<text x=\"\(Self.f(lx + 28))\" y=\"\(Self.f(ly + 4 + Double(j) * 13))\">\(Self.escape(line))</text>"
                if j > 0 { ly += 13 }
            }
            out += "\n"
            ly += 18
        }
        if points.contains(where: \.flagged) {
            out += "<circle cx=\"\(Self.f(lx + 11))\" cy=\"\(Self.f(ly))\" r=\"3.5\" fill=\"#fff\" stroke=\"#333\" stroke-width=\"1.5\"/>"
            out += "<text x=\"\(Self.f(lx + 28))\" y=\"\(Self.f(ly + 4))\">noisy or oversubscribed</text>\n"
            ly += 18
        }
        if points.contains(where: { $0.low != nil }) {
            out += "<text x=\"\(Self.f(lx))\" y=\"\(Self.f(ly + 4))\" fill=\"#555\" font-size=\"11\">bars: 95% interval of the median</text>\n"
        }
        out += "</g>\n"
        if points.isEmpty {
            out += "<text x=\"\(Self.f(Self.left + plotW / 2))\" y=\"\(yMid)\" text-anchor=\"middle\" fill=\"#999\">no data in this set</text>\n"
        }
        return out + "</svg>\n"
    }

    static func f(_ v: Double) -> String { Format.fixed(v, 1) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Words of `text` in lines of at most `width` characters.
    static func wrap(_ text: String, _ width: Int) -> [String] {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > width { lines.append(line); line = "" }
            line += (line.isEmpty ? "" : " ") + word
        }
        return lines + [line]
    }
}

/// Maps an axis's data range onto pixels, with ticks: decades on a log scale (and the 2 and 5
/// between them when the range spans less than two), 1-2-5 steps on a linear one.
struct Scale {
    var low: Double
    var high: Double
    var log: Bool
    var pixels: Double
    var ticks: [(Double, String)]

    init(axis: Plot.Axis, values: [Double], pixels: Double) {
        self.pixels = pixels
        log = axis.log
        let finite = values.filter { $0.isFinite && (!axis.log || $0 > 0) }
        var lo = axis.range?.lowerBound ?? finite.min() ?? (axis.log ? 1 : 0)
        var hi = axis.range?.upperBound ?? finite.max() ?? (axis.log ? 10 : 1)
        if axis.log {
            if axis.range == nil {
                lo = pow(10, (log10(lo)).rounded(.down))
                hi = pow(10, (log10(hi)).rounded(.up))
            }
            if hi <= lo { hi = lo * 10 }
            var t: [(Double, String)] = []
            var decade = lo
            let steps: [Double] = log10(hi / lo) < 2.01 ? [1, 2, 5] : [1]
            while decade <= hi * 1.0001 {
                for s in steps where decade * s <= hi * 1.0001 { t.append((decade * s, Self.label(decade * s))) }
                decade *= 10
            }
            ticks = axis.ticks ?? t
        } else {
            if axis.fromZero, axis.range == nil { lo = min(0, lo) }
            if hi <= lo { hi = lo + 1 }
            let raw = (hi - lo) / 6
            let magnitude = pow(10, log10(raw).rounded(.down))
            let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
            if axis.range == nil {
                lo = (lo / step).rounded(.down) * step
                hi = (hi / step).rounded(.up) * step
            }
            var t: [(Double, String)] = []
            var v = lo
            while v <= hi + step / 1000 { t.append((v, Self.label(v))); v += step }
            ticks = axis.ticks ?? t
        }
        low = lo
        high = hi
    }

    func position(_ v: Double) -> Double {
        let fraction = log ? (log10(max(v, low)) - log10(low)) / (log10(high) - log10(low)) : (v - low) / (high - low)
        return min(max(fraction, -0.02), 1.02) * pixels
    }

    /// `0.5`, `20`, `1.5k`, `2M`.
    static func label(_ v: Double) -> String {
        let a = abs(v)
        func trim(_ s: String) -> String {
            guard s.contains(".") else { return s }
            var t = s
            while t.hasSuffix("0") { t.removeLast() }
            if t.hasSuffix(".") { t.removeLast() }
            return t
        }
        if a >= 1e9 { return trim(Format.fixed(v / 1e9, 2)) + "G" }
        if a >= 1e6 { return trim(Format.fixed(v / 1e6, 2)) + "M" }
        if a >= 1e4 { return trim(Format.fixed(v / 1e3, 2)) + "k" }
        if a >= 1 || a == 0 { return trim(Format.fixed(v, 2)) }
        return trim(Format.fixed(v, 4))
    }
}
