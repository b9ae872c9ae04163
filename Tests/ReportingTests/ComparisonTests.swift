import Foundation
@testable import Harness
@testable import Reporting
import Testing

@Suite("Comparison")
struct ComparisonTests {
    static let kv: [String: String] = ["workload": "kvstore", "ft": "on", "channel_profile": "lan", "ack_policy": "output-aware:64", "offered_rps": "10000"]

    /// A set of one scenario whose p99 takes `values`, one per round (other gating metrics fixed).
    static func set(p99 values: [Double], complete: Bool = true, schema: Int = ResultSet.schemaVersion) throws -> StoredResultSet {
        var s = SyntheticSet()
        s.complete = complete
        s.schemaVersion = schema
        s.scenario("kv|lan", kv, "p99_us", values)
        for i in s.rows.indices { s.rows[i]["achieved_rps"] = "10000" }
        return try StoredResultSet(path: s.write())
    }

    static let base: [Double] = [100, 102, 98, 101, 99, 103]

    @Test("identical sets: unchanged, exit 0")
    func identical() throws {
        let c = try Comparison(base: Self.set(p99: Self.base), new: Self.set(p99: Self.base))
        #expect(c.lines.allSatisfy { $0.verdict == .unchanged }, "\(c.table())")
        #expect(c.exitStatus == 0)
    }

    @Test("p99 up 30% in every round: regressed, exit 2")
    func regressed() throws {
        let c = try Comparison(base: Self.set(p99: Self.base), new: Self.set(p99: Self.base.map { $0 * 1.3 }))
        let p99 = try #require(c.lines.first { $0.metric.column == "p99_us" })
        #expect(p99.verdict == .regressed)
        #expect(abs(p99.ratio - 1.3) < 0.01)
        #expect(try #require(p99.ratioLow) > 1.05 && (p99.ratioHigh ?? 0) < 1.6)
        #expect(c.exitStatus == 2)
        #expect(c.markdown().contains("**regressed**"))
    }

    @Test("a shift of 2%, significant, within the 5% threshold: unchanged")
    func withinNoise() throws {
        let c = try Comparison(base: Self.set(p99: Self.base), new: Self.set(p99: Self.base.map { $0 * 1.02 + 3 }))
        let p99 = try #require(c.lines.first { $0.metric.column == "p99_us" })
        #expect(p99.verdict == .unchanged, "\(p99.reason)")
        #expect(c.exitStatus == 0)
        // The same shift with a 1% threshold is a regression: the threshold decides it.
        let strict = try Comparison(base: Self.set(p99: Self.base), new: Self.set(p99: Self.base.map { $0 * 1.02 + 3 }), threshold: 0.01)
        #expect(strict.exitStatus == 2)
    }

    @Test("p99 down 30%: improved, exit 4")
    func improved() throws {
        let c = try Comparison(base: Self.set(p99: Self.base), new: Self.set(p99: Self.base.map { $0 * 0.7 }))
        #expect(c.lines.first { $0.metric.column == "p99_us" }?.verdict == .improved)
        #expect(c.exitStatus == 4)
    }

    @Test("three repeats cannot reach p < 0.05: inconclusive however large the change")
    func tooFewRepeats() throws {
        let c = try Comparison(base: Self.set(p99: [100, 101, 99]), new: Self.set(p99: [200, 201, 199]))
        let p99 = try #require(c.lines.first { $0.metric.column == "p99_us" })
        #expect(p99.verdict == .inconclusive)
        #expect(p99.reason.contains("too few repeats"))
        #expect(c.exitStatus == 0)
    }

    @Test("noisy samples with no clear shift: inconclusive, not unchanged")
    func noisy() throws {
        let c = try Comparison(base: Self.set(p99: [100, 150, 80, 120, 90, 140]), new: Self.set(p99: [110, 145, 85, 130, 95, 135]))
        #expect(c.lines.first { $0.metric.column == "p99_us" }?.verdict == .inconclusive)
    }

    @Test("an incomplete set is unusable input")
    func incomplete() throws {
        #expect(throws: ReportError.self) { try Comparison(base: Self.set(p99: Self.base), new: Self.set(p99: Self.base, complete: false)) }
    }

    @Test("a set of another schema version is refused by the reader, naming its version")
    func otherSchema() throws {
        do {
            _ = try Self.set(p99: Self.base, schema: ResultSet.schemaVersion - 1)
            Issue.record("read a set of another schema")
        } catch {
            #expect("\(error)".contains("schema version \(ResultSet.schemaVersion - 1)"))
        }
    }

    @Test("sets with no scenario in common cannot be compared")
    func disjoint() throws {
        var other = SyntheticSet()
        other.scenario("another", Self.kv, "p99_us", Self.base)
        #expect(throws: ReportError.self) { try Comparison(base: Self.set(p99: Self.base), new: StoredResultSet(path: other.write())) }
    }
}

@Suite("RankSumTest")
struct RankSumTestTests {
    @Test("complete separation of 4 and 4: p = 2/70, the smallest there is")
    func separated() {
        #expect(abs(RankSumTest.pValue([1, 2, 3, 4], [5, 6, 7, 8]) - 2.0 / 70) < 1e-12)
        #expect(abs(RankSumTest.pValue([1, 2, 3], [5, 6, 7]) - 0.1) < 1e-12)
    }

    @Test("the exact distribution of U counts every arrangement", arguments: [(3, 4), (6, 6), (5, 9)])
    func distribution(_ m: Int, _ n: Int) {
        let counts = RankSumTest.uDistribution(m, n)
        var binomial = 1.0
        for i in 0..<m { binomial = binomial * Double(n + m - i) / Double(i + 1) }
        #expect(counts.count == m * n + 1)
        #expect(abs(counts.reduce(0, +) - binomial) < 1e-6)
        #expect(counts == counts.reversed(), "U is symmetric about mn/2")
    }

    @Test("identical samples: p = 1; ties use the normal approximation and stay in [0, 1]")
    func ties() {
        #expect(RankSumTest.pValue([1, 1, 1, 1], [1, 1, 1, 1]) == 1)
        let p = RankSumTest.pValue([1, 1, 2, 2, 3], [3, 3, 4, 4, 5])
        #expect(p > 0 && p < 0.05)
    }

    @Test("the shift interval covers the true shift of two shifted samples")
    func shiftInterval() throws {
        let a: [Double] = [10, 11, 12, 13, 14, 15], b = a.map { $0 + 5 }
        let i = try #require(RankSumTest.shiftInterval(a, b))
        #expect(i.low <= 5 && i.high >= 5 && i.low > 0)
    }
}
