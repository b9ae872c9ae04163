import Foundation

/// Number formatting for tables and CSV, without Foundation's locale-dependent formatters.
public enum Format {
    /// `value` with exactly `decimals` digits after the point.
    public static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        let sign = value < 0 && scaled > 0 ? "-" : ""
        guard decimals > 0 else { return "\(sign)\(whole)" }
        let digits = String(fraction)
        return "\(sign)\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)"
    }

    /// Zero-padded 16-digit hexadecimal.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// A number as short as it can be written exactly: `10000`, `0.5`, `1e+12`; never rounded.
    public static func number(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Nanoseconds as microseconds, exactly: `45`, `0.5`, `1.234`.
    public static func micros(_ nanos: UInt64) -> String {
        let fraction = nanos % 1_000
        guard fraction > 0 else { return String(nanos / 1_000) }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(nanos / 1_000).\(digits)"
    }

    /// Six significant digits, for medians and interval bounds.
    public static func significant(_ value: Double) -> String {
        guard value.isFinite, value != 0 else { return value == 0 ? "0" : fixed(value, 0) }
        let magnitude = Int(log10(abs(value)).rounded(.down))
        return fixed(value, max(0, 5 - magnitude))
    }

    /// Rows as columns two spaces apart, each as wide as its widest cell; `leftAligned(column)`
    /// says which columns hold text (padded on the right), the rest numbers (on the left).
    public static func table(_ rows: [[String]], leftAligned: (Int) -> Bool) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return leftAligned(i) ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
