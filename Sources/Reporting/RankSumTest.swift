import Foundation

/// The Wilcoxon-Mann-Whitney rank-sum test of two samples, two-sided, and the Hodges-Lehmann
/// interval of their shift that goes with it.
///
/// Chosen over Student's t-test (pyperf's) because it assumes no distribution: on a shared host
/// a run's figures have one-sided outliers (a neighbour steals time), which inflate a t-test's
/// variance and pull its mean. Exact for small samples without ties; with ties or more than 400
/// pairs, the normal approximation with the tie correction and a continuity correction.
///
/// With 4 values on each side the smallest two-sided p-value is 2/70 = 0.029; with 3 it is
/// 2/20 = 0.1, so no difference can ever be significant at 0.05: `minimumRepeats` is 4.
public enum RankSumTest {
    public static let minimumRepeats = 4

    /// The two-sided p-value that samples `a` and `b` come from one distribution.
    public static func pValue(_ a: [Double], _ b: [Double]) -> Double {
        let m = a.count, n = b.count
        guard m > 0, n > 0 else { return 1 }
        let all = (a.map { ($0, 0) } + b.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        // Mid-ranks for ties.
        var ranks = [Double](repeating: 0, count: all.count)
        var tieTerm = 0.0
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count, all[j + 1].0 == all[i].0 { j += 1 }
            let rank = Double(i + j + 2) / 2
            for k in i...j { ranks[k] = rank }
            let t = Double(j - i + 1)
            tieTerm += t * t * t - t
            i = j + 1
        }
        let rankSumA = zip(all, ranks).filter { $0.0.1 == 0 }.reduce(0) { $0 + $1.1 }
        let u = rankSumA - Double(m * (m + 1)) / 2
        if tieTerm == 0, m * n <= 400 {
            let counts = uDistribution(m, n)
            let total = counts.reduce(0, +)
            let low = min(u, Double(m * n) - u)
            let tail = counts.prefix(Int(low.rounded()) + 1).reduce(0, +)
            return min(1, 2 * tail / total)
        }
        let mean = Double(m * n) / 2
        let nn = Double(m + n)
        let variance = Double(m * n) / 12 * ((nn + 1) - tieTerm / (nn * (nn - 1)))
        guard variance > 0 else { return 1 }
        let z = max(0, abs(u - mean) - 0.5) / variance.squareRoot()
        return min(1, erfc(z / 2.0.squareRoot()))
    }

    /// The number of arrangements giving each value of U (0...m*n) for samples of m and n
    /// without ties: the recurrence f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u).
    static func uDistribution(_ m: Int, _ n: Int) -> [Double] {
        // table[j][u] for the current i: samples of i and j.
        var table = (0...n).map { _ in [1.0] }
        for i in 1...max(m, 1) where m > 0 {
            var next: [[Double]] = [[1.0]]
            for j in 1...max(n, 1) where n > 0 {
                var row = [Double](repeating: 0, count: i * j + 1)
                for (u, c) in next[j - 1].enumerated() { row[u] += c }          // the largest value is from b
                for (u, c) in table[j].enumerated() where u + j < row.count { row[u + j] += c }  // from a: it beats j values
                next.append(row)
            }
            table = next
        }
        return table[n]
    }

    /// The Hodges-Lehmann interval of the shift `b - a` at about 95%: of the m*n pairwise
    /// differences, sorted, the k-th smallest and k-th largest, with k from the rank-sum
    /// test's critical value (exact distribution, or the normal approximation for large
    /// samples). Below the test's minimum it is the whole range of the differences.
    public static func shiftInterval(_ a: [Double], _ b: [Double]) -> (low: Double, high: Double)? {
        guard !a.isEmpty, !b.isEmpty else { return nil }
        let differences = a.flatMap { x in b.map { $0 - x } }.sorted()
        let m = a.count, n = b.count, mn = m * n
        var k: Int
        if mn <= 400 {
            let counts = uDistribution(m, n)
            let total = counts.reduce(0, +)
            // The largest k with P(U < k) <= 2.5%.
            var cumulative = 0.0
            k = 0
            while k < counts.count, (cumulative + counts[k]) / total <= 0.025 { cumulative += counts[k]; k += 1 }
        } else {
            k = Int((Double(mn) / 2 - 1.96 * (Double(mn * (m + n + 1)) / 12).squareRoot()).rounded(.down))
        }
        k = max(k, 1)
        return (differences[k - 1], differences[mn - k])
    }
}
