import Foundation

/// A median with a distribution-free confidence interval, from repeated measurements.
///
/// The interval is the order-statistic interval for the median: with the n values sorted, the
/// ranks l and n + 1 - l are the widest pair, narrowed as far as the binomial(n, 1/2)
/// probability that the true median lies between them stays at least 95%. It needs no
/// assumption about the distribution, which matters on a noisy host whose outliers are one-sided.
/// Below n = 6 no pair of ranks reaches 95% (with 5 values the outer pair covers 93.75%), so the
/// interval reported is the range, and `coverage` says how much it actually covers.
public struct MedianInterval: Equatable, Sendable {
    public var median: Double
    public var low: Double
    public var high: Double
    public var count: Int
    /// The interval's coverage probability: at least 0.95 when `count >= 6`.
    public var coverage: Double

    /// Half the interval's width relative to the median (0.02 is ±2%); nil for a zero median.
    public var relativeHalfWidth: Double? { median != 0 ? (high - low) / 2 / abs(median) : nil }

    /// nil for an empty sample.
    public init?(_ values: [Double], confidence: Double = 0.95) {
        let sorted = values.filter(\.isFinite).sorted()
        guard !sorted.isEmpty else { return nil }
        let n = sorted.count
        count = n
        median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        // Coverage of ranks (l, n+1-l), 1-based: P(l <= B <= n - l) for B ~ binomial(n, 1/2).
        func coverage(_ l: Int) -> Double {
            var p = 0.0
            for k in l...(n - l) where k >= 0 { p += Self.binomialHalf(n, k) }
            return p
        }
        var l = 1
        while l + 1 <= n / 2, coverage(l + 1) >= confidence { l += 1 }
        low = sorted[l - 1]
        high = sorted[n - l]
        self.coverage = n >= 2 ? coverage(l) : 0
    }

    /// P(B = k) for B ~ binomial(n, 1/2), through logarithms so that large n cannot overflow.
    static func binomialHalf(_ n: Int, _ k: Int) -> Double {
        guard k >= 0, k <= n else { return 0 }
        return exp(lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) - Double(n) * log(2))
    }
}
